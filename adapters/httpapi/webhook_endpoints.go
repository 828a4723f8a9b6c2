package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/httpapi/api"
	webhooksapp "github.com/dashtam/dashtam/application/webhooks"
	"github.com/dashtam/dashtam/domain/webhook"
)

// The caller's webhook endpoints (docs/webhooks.md): CRUD, the secret shown
// once (at creation and at each rotation), the delivery log and a manual
// retry.

func webhookEndpointPath(id uuid.UUID) string { return apiBase + "/webhook-endpoints/" + id.String() }

// CreateWebhookEndpoint registers an endpoint; its secret is in this answer
// only.
func (s *Server) CreateWebhookEndpoint(c *gin.Context) {
	var req api.CreateWebhookEndpointRequest
	if !s.bind(c, &req) {
		return
	}
	created, err := s.App.Webhooks.Create(c.Request.Context(), principal(c).UserID, webhooksapp.CreateInput{
		URL: req.Url, EventTypes: eventTypeNames(req.EventTypes), Description: deref(req.Description, "")})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Location", webhookEndpointPath(created.Endpoint.ID()))
	c.Header("ETag", etagOf(created.Endpoint.Version(), ""))
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, withSecret(created))
}

// ListWebhookEndpoints lists the caller's endpoints, in cursor mode.
func (s *Server) ListWebhookEndpoints(c *gin.Context, params api.ListWebhookEndpointsParams) {
	userID := principal(c).UserID
	fingerprint := fingerprintOf("webhook-endpoints", userID.String())
	var after uuid.UUID
	if params.Cursor != nil {
		r, err := s.cursors.open(fingerprint, *params.Cursor)
		if err != nil {
			s.fail(c, err)
			return
		}
		copy(after[:], r.bytes(len(after)))
		if err := r.done(); err != nil {
			s.fail(c, err)
			return
		}
	}
	limit := int(deref(params.Limit, defaultPageSize))
	page, err := s.App.Webhooks.List(c.Request.Context(), userID, after, limit)
	if err != nil {
		s.fail(c, err)
		return
	}
	body := api.WebhookEndpointList{Items: make([]api.WebhookEndpoint, len(page.Items)), HasMore: page.HasMore}
	for i, e := range page.Items {
		body.Items[i] = webhookEndpointJSON(e)
	}
	body.UnderscoreLinks.Self = c.Request.URL.RequestURI()
	if page.HasMore {
		last := page.Items[len(page.Items)-1].ID()
		next := s.cursors.seal(fingerprint, last[:])
		body.NextCursor = &next
		body.UnderscoreLinks.Next = nextPageLink(c, next, limit)
	}
	c.Header("Cache-Control", "private, no-cache")
	c.JSON(http.StatusOK, body)
}

// GetWebhookEndpoint returns one of the caller's endpoints (never its
// secret).
func (s *Server) GetWebhookEndpoint(c *gin.Context, id api.EndpointID) {
	e, err := s.App.Webhooks.Get(c.Request.Context(), principal(c).UserID, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("ETag", etagOf(e.Version(), ""))
	c.Header("Cache-Control", "private, no-cache")
	c.JSON(http.StatusOK, webhookEndpointJSON(e))
}

// UpdateWebhookEndpoint changes some of an endpoint's fields (PATCH, JSON
// merge semantics), honouring If-Match.
func (s *Server) UpdateWebhookEndpoint(c *gin.Context, id api.EndpointID, params api.UpdateWebhookEndpointParams) {
	var req api.UpdateWebhookEndpointRequest
	if !s.bind(c, &req) {
		return
	}
	p := webhook.Patch{URL: req.Url, Description: req.Description, Enabled: req.Enabled}
	if req.EventTypes != nil {
		p.EventTypes = eventTypeNames(*req.EventTypes)
		if p.EventTypes == nil {
			p.EventTypes = []string{}
		}
	}
	e, err := s.App.Webhooks.Update(c.Request.Context(), principal(c).UserID, id, p,
		webhooksapp.Precondition(precondition(deref(params.IfMatch, ""))))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("ETag", etagOf(e.Version(), ""))
	c.JSON(http.StatusOK, webhookEndpointJSON(e))
}

// DeleteWebhookEndpoint deletes an endpoint and its delivery log.
func (s *Server) DeleteWebhookEndpoint(c *gin.Context, id api.EndpointID, params api.DeleteWebhookEndpointParams) {
	err := s.App.Webhooks.Delete(c.Request.Context(), principal(c).UserID, id, webhooksapp.Precondition(precondition(deref(params.IfMatch, ""))))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// RotateWebhookSecret gives an endpoint a new secret, in this answer only.
func (s *Server) RotateWebhookSecret(c *gin.Context, id api.EndpointID) {
	rotated, err := s.App.Webhooks.RotateSecret(c.Request.Context(), principal(c).UserID, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, withSecret(rotated))
}

// ListWebhookDeliveries lists an endpoint's deliveries, newest first.
func (s *Server) ListWebhookDeliveries(c *gin.Context, id api.EndpointID, params api.ListWebhookDeliveriesParams) {
	userID := principal(c).UserID
	fingerprint := fingerprintOf("webhook-deliveries", userID.String(), id.String())
	before, err := s.cursors.openPosition(fingerprint, params.Cursor, 1)
	if err != nil {
		s.fail(c, err)
		return
	}
	limit := int(deref(params.Limit, defaultPageSize))
	page, err := s.App.Webhooks.Deliveries(c.Request.Context(), userID, id, before, limit)
	if err != nil {
		s.fail(c, err)
		return
	}
	body := api.WebhookDeliveryList{Items: make([]api.WebhookDelivery, len(page.Items)), HasMore: page.HasMore}
	for i, d := range page.Items {
		body.Items[i] = webhookDeliveryJSON(d)
	}
	body.UnderscoreLinks.Self = c.Request.URL.RequestURI()
	if page.HasMore {
		next := s.cursors.seal(fingerprint, appendInt64(nil, page.Items[len(page.Items)-1].EventID))
		body.NextCursor = &next
		body.UnderscoreLinks.Next = nextPageLink(c, next, limit)
	}
	c.Header("Cache-Control", "private, no-cache")
	c.JSON(http.StatusOK, body)
}

// RetryWebhookDelivery queues one more attempt of a finished delivery.
func (s *Server) RetryWebhookDelivery(c *gin.Context, id api.EndpointID, deliveryID uuid.UUID, _ api.RetryWebhookDeliveryParams) {
	d, err := s.App.Webhooks.Retry(c.Request.Context(), principal(c).UserID, id, deliveryID)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, webhookDeliveryJSON(d))
}

func eventTypeNames(ts []api.EventType) []string {
	var out []string
	for _, t := range ts {
		out = append(out, string(t))
	}
	return out
}

func webhookEndpointJSON(e *webhook.Endpoint) api.WebhookEndpoint {
	out := api.WebhookEndpoint{Id: e.ID(), Url: e.URL(), Description: e.Description(), Enabled: e.Enabled(),
		DisabledReason: e.DisabledReason(), CreatedAt: e.CreatedAt().UTC(), UpdatedAt: e.UpdatedAt().UTC()}
	for _, t := range e.EventTypes() {
		out.EventTypes = append(out.EventTypes, api.EventType(t.String()))
	}
	if prev, until := e.PreviousSecret(); !prev.IsZero() && until.After(e.UpdatedAt()) {
		out.PreviousSecretExpiresAt = optionalTime(until.UTC())
	}
	out.UnderscoreLinks.Self = webhookEndpointPath(e.ID())
	out.UnderscoreLinks.Deliveries = webhookEndpointPath(e.ID()) + "/deliveries"
	return out
}

// webhookEndpointWithSecret is the one representation that carries the
// secret: the answer of a creation or a rotation.
type webhookEndpointWithSecret struct {
	api.WebhookEndpoint
	Secret string `json:"secret"`
}

func withSecret(c webhooksapp.Created) webhookEndpointWithSecret {
	return webhookEndpointWithSecret{WebhookEndpoint: webhookEndpointJSON(c.Endpoint), Secret: c.Secret.Reveal()}
}

func webhookDeliveryJSON(d webhooksapp.Delivery) api.WebhookDelivery {
	out := api.WebhookDelivery{Id: d.ID, EndpointId: d.EndpointID, EventId: d.EventID, EventType: api.EventType(d.EventType.String()),
		Status: api.WebhookDeliveryStatus(d.Status), Attempts: int32(d.Attempts), MaxAttempts: int32(d.MaxAttempts), //nolint:gosec // small counts
		NextAttemptAt: optionalTime(d.NextAttemptAt), LastAttemptAt: optionalTime(d.LastAttemptAt), LastError: d.LastError,
		CreatedAt: d.CreatedAt.UTC()}
	if d.LastStatusCode != 0 {
		code := int32(d.LastStatusCode) //nolint:gosec // an HTTP status
		out.LastStatusCode = &code
	}
	return out
}
