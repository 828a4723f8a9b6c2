package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/httpapi/api"
	identityapp "github.com/dashtam/dashtam/application/identity"
	"github.com/dashtam/dashtam/domain/identity"
)

// RegisterUser creates an account.
func (s *Server) RegisterUser(c *gin.Context, _ api.RegisterUserParams) {
	var req api.RegisterRequest
	if !s.bind(c, &req) {
		return
	}
	user, err := s.App.Identity.Register(c.Request.Context(), identityapp.RegisterInput{Email: req.Email, Password: req.Password, Name: req.Name})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Location", apiBase+"/users/me")
	c.JSON(http.StatusCreated, userJSON(user))
}

// GetCurrentUser returns the caller's profile.
func (s *Server) GetCurrentUser(c *gin.Context) {
	user, err := s.App.Identity.Profile(c.Request.Context(), principal(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "private, no-cache")
	c.JSON(http.StatusOK, userJSON(user))
}

// UpdateCurrentUser changes the caller's profile.
func (s *Server) UpdateCurrentUser(c *gin.Context, _ api.UpdateCurrentUserParams) {
	var req api.UpdateUserRequest
	if !s.bind(c, &req) {
		return
	}
	user, err := s.App.Identity.UpdateProfile(c.Request.Context(), principal(c), identityapp.UpdateProfileInput{Name: req.Name})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "private, no-cache")
	c.JSON(http.StatusOK, userJSON(user))
}

// ChangePassword replaces the caller's password.
func (s *Server) ChangePassword(c *gin.Context) {
	var req api.ChangePasswordRequest
	if !s.bind(c, &req) {
		return
	}
	if err := s.App.Identity.ChangePassword(c.Request.Context(), principal(c), req.CurrentPassword, req.NewPassword); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// DeleteCurrentUser deletes the caller's account, for good.
func (s *Server) DeleteCurrentUser(c *gin.Context) {
	var req api.DeleteAccountRequest
	if !s.bind(c, &req) {
		return
	}
	if _, err := s.App.Erasure.DeleteOwnAccount(c.Request.Context(), principal(c), req.CurrentPassword); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// VerifyEmail consumes a verification token.
func (s *Server) VerifyEmail(c *gin.Context, _ api.VerifyEmailParams) {
	var req api.TokenRequest
	if !s.bind(c, &req) {
		return
	}
	user, err := s.App.Identity.VerifyEmail(c.Request.Context(), req.Token)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, userJSON(user))
}

// ResendVerificationEmail mails a new verification link.
func (s *Server) ResendVerificationEmail(c *gin.Context, _ api.ResendVerificationEmailParams) {
	if err := s.App.Identity.ResendVerification(c.Request.Context(), principal(c)); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, api.Accepted{Status: api.AcceptedStatusAccepted})
}

// RequestPasswordReset mails a reset link if the account exists.
func (s *Server) RequestPasswordReset(c *gin.Context, _ api.RequestPasswordResetParams) {
	var req api.PasswordResetRequest
	if !s.bind(c, &req) {
		return
	}
	if err := s.App.Identity.RequestPasswordReset(c.Request.Context(), req.Email); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, api.Accepted{Status: api.AcceptedStatusAccepted})
}

// ResetPassword sets a new password with a reset token.
func (s *Server) ResetPassword(c *gin.Context, _ api.ResetPasswordParams) {
	var req api.PasswordReset
	if !s.bind(c, &req) {
		return
	}
	if err := s.App.Identity.ResetPassword(c.Request.Context(), req.Token, req.NewPassword); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// CreateSession logs in.
func (s *Server) CreateSession(c *gin.Context) {
	var req api.LoginRequest
	if !s.bind(c, &req) {
		return
	}
	grant, err := s.App.Identity.Login(c.Request.Context(), identityapp.LoginInput{
		Email: req.Email, Password: req.Password, UserAgent: c.Request.UserAgent(), IP: c.ClientIP(),
	})
	if err != nil {
		s.fail(c, err)
		return
	}
	device := s.deviceToken(c, req, grant.Session.UserID())
	c.Header("Location", apiBase+"/sessions/"+grant.Session.ID().String())
	s.writeGrant(c, grant, &device)
}

// deviceToken is the device token a successful login of user hands out (in
// the body and the device cookie): for the device the login presented a
// token of, or else for a new device.
func (s *Server) deviceToken(c *gin.Context, req api.LoginRequest, user uuid.UUID) string {
	email, err := identity.ParseEmail(req.Email)
	if err != nil { // Login accepted it
		return ""
	}
	digest, now := emailDigest(email), s.Now()
	claim, ok := s.devices.check(presentedDeviceToken(c, deref(req.DeviceToken, "")), digest, now)
	device := claim.device
	if !ok || claim.user != user {
		device = uuid.New()
	}
	token := s.devices.issue(user, device, digest, now)
	setDeviceCookie(c, token, s.devices.ttl)
	return token
}

// RefreshTokens rotates a refresh token.
func (s *Server) RefreshTokens(c *gin.Context) {
	var req api.RefreshRequest
	if !s.bind(c, &req) {
		return
	}
	grant, err := s.App.Identity.Refresh(c.Request.Context(), req.RefreshToken)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.writeGrant(c, grant, nil)
}

// writeGrant answers with a token pair, and a login's device token.
func (s *Server) writeGrant(c *gin.Context, g identityapp.Grant, deviceToken *string) {
	c.Header("Cache-Control", "no-store")
	c.Header("Pragma", "no-cache")
	c.JSON(http.StatusCreated, api.TokenGrant{
		AccessToken:  g.AccessToken,
		RefreshToken: g.RefreshToken,
		TokenType:    api.Bearer,
		ExpiresIn:    int32(g.ExpiresIn / time.Second),
		Session:      sessionJSON(g.Session, g.Session.ID()),
		DeviceToken:  deviceToken,
	})
}

// ListSessions lists the caller's active sessions.
func (s *Server) ListSessions(c *gin.Context, params api.ListSessionsParams) {
	page, perPage := int(deref(params.Page, 1)), int(deref(params.PerPage, 20))
	p := principal(c)
	result, err := s.App.Identity.ListSessions(c.Request.Context(), p, page, perPage)
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
	if header != "" {
		c.Header("Link", header)
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, api.SessionPage{
		Items: items, Total: result.Total, Page: int32(page), PerPage: int32(perPage),
		Pages: int32(pageCount(result.Total, perPage)), UnderscoreLinks: links,
	})
}

// GetSession returns one of the caller's sessions.
func (s *Server) GetSession(c *gin.Context, id uuid.UUID) {
	p := principal(c)
	sess, err := s.App.Identity.GetSession(c.Request.Context(), p, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, sessionJSON(sess, p.SessionID))
}

// GetCurrentSession returns the session of the request's bearer token.
func (s *Server) GetCurrentSession(c *gin.Context) {
	s.GetSession(c, principal(c).SessionID)
}

// DeleteCurrentSession logs out.
func (s *Server) DeleteCurrentSession(c *gin.Context) {
	if err := s.App.Identity.Logout(c.Request.Context(), principal(c)); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// DeleteSession revokes one of the caller's sessions.
func (s *Server) DeleteSession(c *gin.Context, id uuid.UUID) {
	if err := s.App.Identity.RevokeSession(c.Request.Context(), principal(c), id); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func userJSON(u *identity.User) api.User {
	return api.User{
		Id: u.ID(), Email: u.Email().String(), Name: u.Name(), EmailVerified: u.IsEmailVerified(),
		Role: api.UserRole(u.Role().String()), Status: api.UserStatus(u.Status().String()),
		CreatedAt: u.CreatedAt().UTC(), UpdatedAt: u.UpdatedAt().UTC(),
	}
}

func sessionJSON(sess *identity.Session, current uuid.UUID) api.Session {
	return api.Session{
		Id: sess.ID(), CreatedAt: sess.CreatedAt().UTC(), LastUsedAt: sess.LastUsedAt().UTC(),
		ExpiresAt: sess.ExpiresAt().UTC(), UserAgent: sess.UserAgent(), IpAddress: sess.IPAddress(),
		Current: sess.ID() == current,
	}
}
