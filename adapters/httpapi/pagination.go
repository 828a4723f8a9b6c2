package httpapi

import (
	"fmt"
	"math"
	"net/url"
	"strconv"

	"github.com/dashtam/dashtam/adapters/httpapi/api"
)

// pageCount is the number of pages of perPage items that total items fill.
func pageCount(total int64, perPage int) int64 {
	return int64(math.Ceil(float64(total) / float64(perPage)))
}

// offsetLinks builds the _links object and the RFC 8288 Link header of an
// offset-paginated list, keeping every other query parameter of the request.
func offsetLinks(u *url.URL, page, perPage int, total int64) (api.PageLinks, string) {
	last := max(pageCount(total, perPage), 1)
	at := func(p int64) string {
		q := u.Query()
		q.Set("page", strconv.FormatInt(p, 10))
		q.Set("per_page", strconv.Itoa(perPage))
		return u.Path + "?" + q.Encode()
	}
	links := api.PageLinks{Self: at(int64(page))}
	first, lastURL := at(1), at(last)
	links.First, links.Last = &first, &lastURL
	header := fmt.Sprintf(`<%s>; rel="first", <%s>; rel="last"`, first, lastURL)
	if page > 1 {
		prev := at(min(int64(page-1), last))
		links.Prev = &prev
		header += fmt.Sprintf(`, <%s>; rel="prev"`, prev)
	}
	if int64(page) < last {
		next := at(int64(page + 1))
		links.Next = &next
		header += fmt.Sprintf(`, <%s>; rel="next"`, next)
	}
	return links, header
}
