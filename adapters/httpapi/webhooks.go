package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/dashtam/dashtam/adapters/httpapi/api"
)

// The webhooks institutions send: no bearer, the connector verifies the
// delivery's signature over the raw body, which validateRequest kept (capped
// like every body) exactly as received.

// plaidKey is Plaid's provider key, whose webhook route this is.
const plaidKey = "plaid"

// ReceivePlaidWebhook verifies, records and answers one Plaid webhook; a
// job acts on it. The header is read by the connector (Plaid-Verification),
// so the handler stays generic.
func (s *Server) ReceivePlaidWebhook(c *gin.Context, _ api.ReceivePlaidWebhookParams) {
	raw, _ := c.Get(ctxBody)
	body, _ := raw.([]byte)
	receipt, err := s.App.InstitutionHooks.Receive(c.Request.Context(), plaidKey, c.Request.Header, body)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, api.WebhookReceipt{DeliveryId: receipt.DeliveryID, Duplicate: receipt.Duplicate})
}
