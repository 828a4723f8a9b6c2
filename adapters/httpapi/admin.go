package httpapi

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/dashtam/dashtam/adapters/httpapi/api"
	adminapp "github.com/dashtam/dashtam/application/admin"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/identity"
)

// The operators' routes (tag admin). Each use case checks that the caller is
// an active admin, read from the store on every request; anyone else gets the
// answer of a route that does not exist.

// ListUsers lists every user, newest first, in offset or cursor mode.
func (s *Server) ListUsers(c *gin.Context, params api.ListUsersParams) {
	q, cursorMode, err := s.userQuery(params)
	if err != nil {
		s.fail(c, err)
		return
	}
	page, err := s.App.Admin.ListUsers(c.Request.Context(), principal(c), q, cursorMode)
	if err != nil {
		s.fail(c, err)
		return
	}
	items := make([]api.User, len(page.Items))
	for i, u := range page.Items {
		items[i] = userJSON(u)
	}
	body := api.UserList{Items: items}
	c.Header("Cache-Control", "private, no-cache")
	if cursorMode {
		body.HasMore = &page.HasMore
		body.UnderscoreLinks.Self = c.Request.URL.RequestURI()
		if page.HasMore {
			next := s.cursors.encodeUser(userQueryFingerprint(q), page.Next)
			body.NextCursor = &next
			body.UnderscoreLinks.Next = nextPageLink(c, next, q.Limit)
		}
		c.JSON(http.StatusOK, body)
		return
	}
	pageNum, perPage := q.Offset/q.Limit+1, q.Limit
	links, header := offsetLinks(c.Request.URL, pageNum, perPage, page.Total)
	pages := int32(pageCount(page.Total, perPage))
	pn, pp := int32(pageNum), int32(perPage)
	body.Total, body.Page, body.PerPage, body.Pages, body.UnderscoreLinks = &page.Total, &pn, &pp, &pages, links
	c.Header("X-Total-Count", strconv.FormatInt(page.Total, 10))
	c.Header("Link", header)
	c.JSON(http.StatusOK, body)
}

// userQuery turns the list's query parameters into a UserQuery, reporting
// every unusable parameter by name.
func (s *Server) userQuery(params api.ListUsersParams) (adminapp.UserQuery, bool, error) {
	verr := &domain.ValidationError{}
	var q adminapp.UserQuery
	q.Filter.Email = deref(params.Email, "")
	if params.Role != nil {
		role, err := identity.ParseRole(string(*params.Role))
		if err != nil {
			verr.Add("role", "invalid_choice", "role is user or admin.")
		}
		q.Filter.Role = role
	}
	if params.Status != nil {
		status, err := identity.ParseUserStatus(string(*params.Status))
		if err != nil {
			verr.Add("status", "invalid_choice", "status is active or disabled.")
		}
		q.Filter.Status = status
	}
	if params.CreatedAfter != nil {
		q.Filter.CreatedAfter = params.CreatedAfter.UTC()
	}
	cursorMode := params.Cursor != nil || params.Limit != nil
	if !cursorMode {
		page, perPage := int(deref(params.Page, 1)), int(deref(params.PerPage, 20))
		q.Offset, q.Limit = (page-1)*perPage, perPage
		return q, false, verr.OrNil()
	}
	if params.Page != nil || params.PerPage != nil {
		verr.Add("page", "conflict", "Use either page/per_page (offset mode) or cursor/limit (cursor mode), not both.")
	}
	q.Limit = int(deref(params.Limit, 20))
	if params.Cursor != nil && len(verr.Fields) == 0 {
		pos, err := s.cursors.decodeUser(userQueryFingerprint(q), *params.Cursor)
		if err != nil {
			verr.Merge(err)
		}
		q.After = &pos
	}
	return q, true, verr.OrNil()
}

// GetUser returns one user, with the ETag PATCH's If-Match compares.
func (s *Server) GetUser(c *gin.Context, id api.UserID) {
	u, err := s.App.Admin.GetUser(c.Request.Context(), principal(c), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "private, no-cache")
	c.Header("ETag", etagOf(adminapp.Version(u), ""))
	c.JSON(http.StatusOK, userJSON(u))
}

// UpdateUser disables or enables a user, or changes their role.
func (s *Server) UpdateUser(c *gin.Context, id api.UserID, params api.UpdateUserParams) {
	var req api.AdminUpdateUserRequest
	if !s.bind(c, &req) {
		return
	}
	in := adminapp.UpdateUserInput{IfMatch: precondition(deref(params.IfMatch, ""))}
	verr := &domain.ValidationError{}
	if req.Role != nil {
		role, err := identity.ParseRole(string(*req.Role))
		if err != nil {
			verr.Add("role", "invalid_choice", "role is user or admin.")
		}
		in.Role = &role
	}
	if req.Status != nil {
		status, err := identity.ParseUserStatus(string(*req.Status))
		if err != nil {
			verr.Add("status", "invalid_choice", "status is active or disabled.")
		}
		in.Status = &status
	}
	if err := verr.OrNil(); err != nil {
		s.fail(c, err)
		return
	}
	u, err := s.App.Admin.UpdateUser(c.Request.Context(), principal(c), id, in)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("ETag", etagOf(adminapp.Version(u), ""))
	c.JSON(http.StatusOK, userJSON(u))
}

// DeleteUser deletes a user's account, for good.
func (s *Server) DeleteUser(c *gin.Context, id api.UserID, params api.DeleteUserParams) {
	if _, err := s.App.Erasure.DeleteUser(c.Request.Context(), principal(c), id, precondition(deref(params.IfMatch, ""))); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// ListUserProviders lists a user's providers.
func (s *Server) ListUserProviders(c *gin.Context, id api.UserID, params api.ListUserProvidersParams) {
	page, perPage := int(deref(params.Page, 1)), int(deref(params.PerPage, 20))
	result, err := s.App.Admin.ListUserProviders(c.Request.Context(), principal(c), id, page, perPage)
	if err != nil {
		s.fail(c, err)
		return
	}
	states, err := s.App.Syncs.ProviderStates(c.Request.Context(), id, result.Items)
	if err != nil {
		s.fail(c, err)
		return
	}
	items := make([]api.Provider, len(result.Items))
	for i, p := range result.Items {
		items[i] = providerJSON(p, states[p.ID()], nil)
	}
	links, header := offsetLinks(c.Request.URL, page, perPage, result.Total)
	pages := int32(pageCount(result.Total, perPage))
	pn, pp := int32(page), int32(perPage)
	body := api.ProviderList{Items: items, Total: &result.Total, Page: &pn, PerPage: &pp, Pages: &pages, UnderscoreLinks: links}
	c.Header("X-Total-Count", strconv.FormatInt(result.Total, 10))
	c.Header("Link", header)
	c.Header("Cache-Control", "private, no-cache")
	writeJSON(c, http.StatusOK, func(b []byte) []byte { return appendProviderList(b, &body) })
}

// ListUserSessions lists a user's active sessions.
func (s *Server) ListUserSessions(c *gin.Context, id api.UserID, params api.ListUserSessionsParams) {
	page, perPage := int(deref(params.Page, 1)), int(deref(params.PerPage, 20))
	p := principal(c)
	result, err := s.App.Admin.ListUserSessions(c.Request.Context(), p, id, page, perPage)
	if err != nil {
		s.fail(c, err)
		return
	}
	items := make([]api.Session, len(result.Items))
	for i, sess := range result.Items {
		items[i] = sessionJSON(sess, p.SessionID)
	}
	links, header := offsetLinks(c.Request.URL, page, perPage, result.Total)
	c.Header("X-Total-Count", strconv.FormatInt(result.Total, 10))
	c.Header("Link", header)
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, api.SessionPage{
		Items: items, Total: result.Total, Page: int32(page), PerPage: int32(perPage),
		Pages: int32(pageCount(result.Total, perPage)), UnderscoreLinks: links,
	})
}

// RevokeUserSessions ends every session of a user.
func (s *Server) RevokeUserSessions(c *gin.Context, id api.UserID) {
	if err := s.App.Admin.RevokeUserSessions(c.Request.Context(), principal(c), id); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
