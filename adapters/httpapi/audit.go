package httpapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/httpapi/api"
	"github.com/dashtam/dashtam/application/audit"
	"github.com/dashtam/dashtam/domain"
)

const defaultAuditPageSize = 20

// auditRequest puts what the audit log records of a request (its id, the
// client's address as c.ClientIP sees it, the user agent) on the request's
// context, where application/audit reads it. It runs after requestID.
func auditRequest() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Request = c.Request.WithContext(audit.WithRequest(c.Request.Context(), audit.Request{
			ID: c.Writer.Header().Get(headerRequestID), ClientIP: c.ClientIP(), UserAgent: c.Request.UserAgent(),
		}))
		c.Next()
	}
}

// ListMyAuditEvents serves the caller's own audit entries, newest first.
func (s *Server) ListMyAuditEvents(c *gin.Context, params api.ListMyAuditEventsParams) {
	userID := principal(c).UserID
	q, fingerprint, ok := s.auditQuery(c, "my-audit", userID.String(), params.Cursor, params.Limit, params.Action, params.From, params.To)
	if !ok {
		return
	}
	page, err := s.App.Audit.ListOwn(c.Request.Context(), userID, q)
	s.writeAuditPage(c, page, err, fingerprint, q.Limit)
}

// ListAuditEvents serves the whole audit log to admins, newest first.
func (s *Server) ListAuditEvents(c *gin.Context, params api.ListAuditEventsParams) {
	var actor, subjectType, subjectID string
	if params.Actor != nil {
		actor = uuid.UUID(*params.Actor).String()
	}
	if params.SubjectType != nil {
		subjectType = string(*params.SubjectType)
	}
	subjectID = deref(params.SubjectId, "")
	if subjectID != "" && subjectType == "" {
		s.fail(c, domain.NewValidationError("subject_id", "requires_subject_type", "subject_id needs subject_type."))
		return
	}
	q, fingerprint, ok := s.auditQuery(c, "audit", actor+"|"+subjectType+"|"+subjectID, params.Cursor, params.Limit, params.Action, params.From, params.To)
	if !ok {
		return
	}
	if params.Actor != nil {
		q.Actor = uuid.UUID(*params.Actor)
	}
	q.Subject = audit.Subject{Type: subjectType, ID: subjectID}
	page, err := s.App.Admin.ListAuditEvents(c.Request.Context(), principal(c), q)
	s.writeAuditPage(c, page, err, fingerprint, q.Limit)
}

// auditQuery reads the parameters both lists share; a cursor must come from
// the same list with the same filters (fingerprint).
func (s *Server) auditQuery(c *gin.Context, list, filters string, cursor *api.Cursor, limit *api.Limit, action *api.AuditAction,
	from, to *time.Time,
) (audit.Query, string, bool) {
	q := audit.Query{Limit: int(deref(limit, defaultAuditPageSize))}
	var actionName, fromKey, toKey string
	if action != nil {
		a, ok := audit.ParseAction(string(*action))
		if !ok {
			s.fail(c, domain.NewValidationError("action", "unknown", "Unknown audit action."))
			return q, "", false
		}
		q.Action, actionName = a, string(a)
	}
	if from != nil {
		q.From, fromKey = *from, timeKey(*from)
	}
	if to != nil {
		q.To, toKey = *to, timeKey(*to)
	}
	fingerprint := fingerprintOf(list, filters, actionName, fromKey, toKey)
	if cursor != nil {
		r, err := s.cursors.open(fingerprint, *cursor)
		if err != nil {
			s.fail(c, err)
			return q, "", false
		}
		id, err := uuid.FromBytes(r.bytes(16))
		if err != nil || r.done() != nil || id == uuid.Nil {
			s.fail(c, errInvalidCursor)
			return q, "", false
		}
		q.Before = id
	}
	return q, fingerprint, true
}

func (s *Server) writeAuditPage(c *gin.Context, page audit.Page, err error, fingerprint string, limit int) {
	if err != nil {
		s.fail(c, err)
		return
	}
	body := api.AuditEventPage{Items: make([]api.AuditEvent, 0, len(page.Entries)), HasMore: page.HasMore}
	for _, e := range page.Entries {
		body.Items = append(body.Items, auditEventJSON(e))
	}
	body.UnderscoreLinks.Self = c.Request.URL.RequestURI()
	if page.HasMore {
		next := s.cursors.seal(fingerprint, page.Next[:])
		body.NextCursor = &next
		body.UnderscoreLinks.Next = nextPageLink(c, next, limit)
	}
	c.Header("Cache-Control", "private, no-cache")
	c.JSON(http.StatusOK, body)
}

func auditEventJSON(e audit.Entry) api.AuditEvent {
	out := api.AuditEvent{
		Id: e.ID, OccurredAt: e.OccurredAt.UTC(), Action: api.AuditAction(e.Action), Outcome: api.AuditEventOutcome(e.Outcome),
		RequestId: e.RequestID, ClientIp: e.ClientIP, UserAgent: e.UserAgent,
	}
	out.Subject.Type, out.Subject.Id = api.AuditSubjectType(e.Subject.Type), e.Subject.ID
	if e.Actor != uuid.Nil {
		actor := e.Actor
		out.ActorId = &actor
	}
	if e.Reason != "" {
		reason := e.Reason
		out.Reason = &reason
	}
	return out
}
