// Package docsui bundles the Swagger UI and Redoc pages and their assets into the
// binary, so the API documentation works with no network access (never a CDN).
//
// Assets: swagger-ui-dist 5.32.0 and redoc 2.5.2 from the npm registry, unmodified
// (licences alongside). To upgrade, `npm pack` the new versions and copy the same
// files into assets/.
package docsui

import (
	"embed"
	"io/fs"
	"mime"
	"path"
)

//go:embed assets
var assets embed.FS

// AssetPath is where the assets are served from.
const AssetPath = "/docs/assets/"

// SwaggerHTML is the Swagger UI page for /docs.
const SwaggerHTML = `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Dashtam API – Swagger UI</title>
  <link rel="stylesheet" href="` + AssetPath + `swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="` + AssetPath + `swagger-ui-bundle.js"></script>
  <script src="` + AssetPath + `swagger-init.js"></script>
</body>
</html>
`

// RedocHTML is the Redoc page for /redoc.
const RedocHTML = `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Dashtam API – Reference</title>
</head>
<body>
  <redoc spec-url="/openapi.json"></redoc>
  <script src="` + AssetPath + `redoc.standalone.js"></script>
</body>
</html>
`

// Asset returns the bundled asset called name and its content type. ok is false for
// names that are not bundled (including any attempt at a path).
func Asset(name string) (data []byte, contentType string, ok bool) {
	ext := path.Ext(name)
	if name == "" || path.Base(name) != name || (ext != ".js" && ext != ".css") {
		return nil, "", false
	}
	data, err := fs.ReadFile(assets, "assets/"+name)
	if err != nil {
		return nil, "", false
	}
	return data, mime.TypeByExtension(ext), true
}
