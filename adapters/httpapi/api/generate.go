// Package api holds the Gin server interface and the request/response types that
// oapi-codegen generates from the OpenAPI document (../openapi.yaml). Do not edit
// api.gen.go; change the document and run `make generate`.
package api

//go:generate go tool oapi-codegen -config config.yaml ../openapi.yaml
