package httpapi

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/httpapi/api"
	datasyncapp "github.com/dashtam/dashtam/application/datasync"
	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/provider"
)

// ListProviderTypes serves the public catalog.
func (s *Server) ListProviderTypes(c *gin.Context) {
	types := s.App.Providers.Types()
	items := make([]api.ProviderType, len(types))
	for i, t := range types {
		items[i] = providerTypeJSON(t)
	}
	c.Header("Cache-Control", "public, max-age=3600")
	c.JSON(http.StatusOK, api.ProviderTypeList{Items: items})
}

// GetProviderType serves one catalog entry.
func (s *Server) GetProviderType(c *gin.Context, key string) {
	t, err := s.App.Providers.Type(key)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "public, max-age=3600")
	c.JSON(http.StatusOK, providerTypeJSON(t))
}

// CreateProvider adds a provider for the caller.
func (s *Server) CreateProvider(c *gin.Context, _ api.CreateProviderParams) {
	var req api.CreateProviderRequest
	if !s.bind(c, &req) {
		return
	}
	p, err := s.App.Providers.Create(c.Request.Context(), principal(c).UserID, req.ProviderKey, req.Alias)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Location", providerPath(p.ID()))
	s.writeProvider(c, http.StatusCreated, p, datasyncapp.State{ProviderID: p.ID()}, nil, "")
}

// GetProvider returns one of the caller's providers, honouring If-None-Match and
// If-Modified-Since.
func (s *Server) GetProvider(c *gin.Context, id uuid.UUID, params api.GetProviderParams) {
	fields, err := parseFields(params.Fields, providerFieldNames)
	if err != nil {
		s.fail(c, err)
		return
	}
	userID := principal(c).UserID
	p, err := s.App.Providers.Get(c.Request.Context(), userID, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	st, err := s.syncState(c, userID, p)
	if err != nil {
		s.fail(c, err)
		return
	}
	etag := providerETag(p, st, deref(params.Fields, ""))
	if now := s.Now(); notModified(c.Request, etag, providerModified(p, st), now) {
		setValidators(c, etag, p, st, now)
		c.Status(http.StatusNotModified)
		return
	}
	s.writeProvider(c, http.StatusOK, p, st, fields, deref(params.Fields, ""))
}

// ReplaceProvider replaces every mutable field (PUT).
func (s *Server) ReplaceProvider(c *gin.Context, id uuid.UUID, params api.ReplaceProviderParams) {
	var req api.ReplaceProviderRequest
	if !s.bind(c, &req) {
		return
	}
	s.update(c, id, providersapp.UpdateInput{Alias: &req.Alias}, params.IfMatch)
}

// UpdateProvider changes some mutable fields (PATCH, JSON merge semantics).
func (s *Server) UpdateProvider(c *gin.Context, id uuid.UUID, params api.UpdateProviderParams) {
	var req api.UpdateProviderRequest
	if !s.bind(c, &req) {
		return
	}
	s.update(c, id, providersapp.UpdateInput{Alias: req.Alias}, params.IfMatch)
}

func (s *Server) update(c *gin.Context, id uuid.UUID, in providersapp.UpdateInput, ifMatch *string) {
	userID := principal(c).UserID
	p, err := s.App.Providers.Update(c.Request.Context(), userID, id, in, precondition(deref(ifMatch, "")))
	if err != nil {
		s.fail(c, err)
		return
	}
	st, err := s.syncState(c, userID, p)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.writeProvider(c, http.StatusOK, p, st, nil, "")
}

// syncState returns the sync State of p, which the caller's use case has
// just loaded (and checked is theirs): one query, not a second load of p.
func (s *Server) syncState(c *gin.Context, userID uuid.UUID, p *provider.Provider) (datasyncapp.State, error) {
	states, err := s.App.Syncs.ProviderStates(c.Request.Context(), userID, []*provider.Provider{p})
	return states[p.ID()], err
}

// DeleteProvider removes one of the caller's providers.
func (s *Server) DeleteProvider(c *gin.Context, id uuid.UUID, params api.DeleteProviderParams) {
	if err := s.App.Providers.Delete(c.Request.Context(), principal(c).UserID, id, precondition(deref(params.IfMatch, ""))); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// ListProviders lists the caller's providers in offset or cursor mode.
func (s *Server) ListProviders(c *gin.Context, params api.ListProvidersParams) {
	q, cursorMode, fields, err := s.listQuery(principal(c).UserID, params)
	if err != nil {
		s.fail(c, err)
		return
	}
	page, err := s.App.Providers.List(c.Request.Context(), q, cursorMode)
	if err != nil {
		s.fail(c, err)
		return
	}
	states, err := s.App.Syncs.ProviderStates(c.Request.Context(), q.UserID, page.Items)
	if err != nil {
		s.fail(c, err)
		return
	}
	items := make([]api.Provider, len(page.Items))
	for i, p := range page.Items {
		items[i] = providerJSON(p, states[p.ID()], fields)
	}
	body := api.ProviderList{Items: items}
	c.Header("Cache-Control", "private, no-cache")
	if cursorMode {
		body.HasMore = &page.HasMore
		body.UnderscoreLinks.Self = c.Request.URL.RequestURI()
		if page.HasMore {
			next := s.cursors.encode(queryFingerprint(q), page.Next)
			body.NextCursor = &next
			body.UnderscoreLinks.Next = nextPageLink(c, next, q.Limit)
		}
		writeJSON(c, http.StatusOK, func(b []byte) []byte { return appendProviderList(b, &body) })
		return
	}
	pageNum, perPage := q.Offset/q.Limit+1, q.Limit
	links, header := offsetLinks(c.Request.URL, pageNum, perPage, page.Total)
	pages := int32(pageCount(page.Total, perPage))
	pn, pp := int32(pageNum), int32(perPage)
	body.Total, body.Page, body.PerPage, body.Pages, body.UnderscoreLinks = &page.Total, &pn, &pp, &pages, links
	c.Header("X-Total-Count", strconv.FormatInt(page.Total, 10))
	c.Header("Link", header)
	writeJSON(c, http.StatusOK, func(b []byte) []byte { return appendProviderList(b, &body) })
}

// listQuery turns the query parameters into a ListQuery, reporting every
// unusable parameter by name.
func (s *Server) listQuery(userID uuid.UUID, params api.ListProvidersParams) (providersapp.ListQuery, bool, []string, error) {
	verr := &domain.ValidationError{}
	q := providersapp.ListQuery{UserID: userID}
	sort, err := providersapp.ParseSort(deref(params.Sort, ""))
	if err != nil {
		verr.Merge(err)
	}
	q.Sort = sort
	if params.Status != nil {
		st, err := provider.ParseStatus(string(*params.Status))
		if err != nil {
			verr.Add("status", "invalid_choice", "Unknown connection status.")
		}
		q.Filter.Status = st
	}
	q.Filter.Key = deref(params.ProviderKey, "")
	q.Filter.Search = deref(params.Search, "")
	if params.CreatedAfter != nil {
		q.Filter.CreatedAfter = params.CreatedAfter.UTC()
	}
	if params.CreatedBefore != nil {
		q.Filter.CreatedBefore = params.CreatedBefore.UTC()
	}
	fields, err := parseFields(params.Fields, providerFieldNames)
	if err != nil {
		verr.Merge(err)
	}
	cursorMode := params.Cursor != nil || params.Limit != nil
	if cursorMode {
		if params.Page != nil || params.PerPage != nil {
			verr.Add("page", "conflict", "Use either page/per_page (offset mode) or cursor/limit (cursor mode), not both.")
		}
		q.Limit = int(deref(params.Limit, 20))
		if params.Cursor != nil && len(verr.Fields) == 0 {
			pos, err := s.cursors.decode(queryFingerprint(q), *params.Cursor)
			if err != nil {
				verr.Merge(err)
			}
			q.After = &pos
		}
	} else {
		page, perPage := int(deref(params.Page, 1)), int(deref(params.PerPage, 20))
		q.Offset, q.Limit = (page-1)*perPage, perPage
	}
	return q, cursorMode, fields, verr.OrNil()
}

var providerFieldNames = []string{"id", "provider_key", "alias", "connection_status", "created_at", "updated_at",
	"last_synced_at", "data_as_of", "_links"}

// parseFields validates ?fields= against a resource's field names. Nil means
// every field.
func parseFields(raw *string, names []string) ([]string, error) {
	if raw == nil {
		return nil, nil
	}
	fields := strings.Split(*raw, ",")
	for _, f := range fields {
		if !slices.Contains(names, f) {
			return nil, domain.NewValidationError("fields", "invalid_choice", "fields accepts "+strings.Join(names, ", ")+".")
		}
	}
	return fields, nil
}

func (s *Server) writeProvider(c *gin.Context, status int, p *provider.Provider, st datasyncapp.State, fields []string, rawFields string) {
	setValidators(c, providerETag(p, st, rawFields), p, st, s.Now())
	c.Header("Cache-Control", "private, no-cache")
	body := providerJSON(p, st, fields)
	writeJSON(c, status, func(b []byte) []byte { return appendProvider(b, &body) })
}

func setValidators(c *gin.Context, etag string, p *provider.Provider, st datasyncapp.State, now time.Time) {
	c.Header("ETag", etag)
	setLastModified(c, providerModified(p, st), now)
}

// providerETag is the provider's version and, once it has synced, when it
// last synced and how fresh its data is: the representation shows both, and
// they change without the version moving. If-Match compares the version
// alone (precondition), since only the mutable fields it guards move it.
func providerETag(p *provider.Provider, st datasyncapp.State, fields string) string {
	tag := strconv.FormatInt(p.Version(), 10)
	if !st.LastSyncedAt.IsZero() || !st.DataAsOf.IsZero() {
		tag += "." + strconv.FormatInt(unixMicro(st.LastSyncedAt), 10) + "." + strconv.FormatInt(unixMicro(st.DataAsOf), 10)
	}
	if fields != "" {
		tag += ";" + fields
	}
	return `"` + tag + `"`
}

// unixMicro is t in Unix microseconds, 0 for the zero time.
func unixMicro(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// providerModified is when the representation last changed: the provider's
// own update or its last sync, whichever is later.
func providerModified(p *provider.Provider, st datasyncapp.State) time.Time {
	if st.LastSyncedAt.After(p.UpdatedAt()) {
		return st.LastSyncedAt
	}
	return p.UpdatedAt()
}

func providerPath(id uuid.UUID) string { return apiBase + "/providers/" + id.String() }

// providerJSON renders p, limited to fields when it is not nil (id always).
// st is the provider's sync state: last_synced_at and data_as_of are absent
// until the first sync stored data.
func providerJSON(p *provider.Provider, st datasyncapp.State, fields []string) api.Provider {
	want := func(f string) bool { return fields == nil || slices.Contains(fields, f) }
	out := api.Provider{Id: p.ID()}
	if want("provider_key") {
		k := p.Key()
		out.ProviderKey = &k
	}
	if want("alias") {
		a := p.Alias()
		out.Alias = &a
	}
	if want("connection_status") {
		st := api.ConnectionStatus(p.Status().String())
		out.ConnectionStatus = &st
	}
	if want("created_at") {
		t := p.CreatedAt().UTC()
		out.CreatedAt = &t
	}
	if want("updated_at") {
		t := p.UpdatedAt().UTC()
		out.UpdatedAt = &t
	}
	if want("last_synced_at") && !st.LastSyncedAt.IsZero() {
		t := st.LastSyncedAt.UTC()
		out.LastSyncedAt = &t
	}
	if want("data_as_of") && !st.DataAsOf.IsZero() {
		t := st.DataAsOf.UTC()
		out.DataAsOf = &t
	}
	if want("_links") {
		self := providerPath(p.ID())
		out.UnderscoreLinks = &api.ProviderLinks{Self: self, Authorization: self + "/authorization", Syncs: self + "/syncs"}
	}
	return out
}

func providerTypeJSON(t providersapp.ProviderType) api.ProviderType {
	caps := t.Capabilities
	if caps == nil {
		caps = []string{}
	}
	return api.ProviderType{Key: t.Key, Name: t.Name, AuthFlow: api.ProviderTypeAuthFlow(t.Flow), Capabilities: caps, SupportsRefresh: t.CanRefresh}
}
