package authz

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tenantless/tenantless/authz/trace"
	"github.com/tenantless/tenantless/storage"
	"github.com/tenantless/tenantless/web"
)

// Cookie names. The session cookie holds a random value whose SHA-256 is
// the stored session key; the CSRF cookie holds a random value whose HMAC
// is the token every form must echo (a signed double-submit cookie).
const (
	sessionCookie = "tenantless_session"
	csrfCookie    = "tenantless_csrf"
	csrfField     = "csrf_token"
	maxFormBytes  = 64 << 10
)

// browserForm wraps a handler of browser form posts: it bounds the body
// and refuses cross-origin posts (Sec-Fetch-Site / Origin), answering with
// an HTML page.
func (s *Server) browserForm(h http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.errorPage(w, r, http.StatusForbidden, web.ErrorPage{
			Title:   "Request refused",
			Message: "This form was submitted from another site, so it was refused.",
			Code:    "cross_origin_request",
			Hint:    "Start the sign-in again from the application you are connecting.",
		})
	}))
	return cop.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		h.ServeHTTP(w, r)
	}))
}

func hashSessionID(id string) []byte {
	sum := sha256.Sum256([]byte(id))
	return sum[:]
}

// currentUser returns the signed-in user of the request, if any.
func (s *Server) currentUser(r *http.Request) (storage.User, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return storage.User{}, false
	}
	sess, err := s.store.GetSession(r.Context(), hashSessionID(c.Value))
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			s.logger(r).Error("load session", "err", err)
		}
		return storage.User{}, false
	}
	if !s.now().Before(sess.ExpiresAt) {
		return storage.User{}, false
	}
	u, err := s.store.GetUser(r.Context(), sess.UserID)
	if err != nil {
		return storage.User{}, false
	}
	return u, true
}

func (s *Server) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		MaxAge:   int(maxAge / time.Second),
		HttpOnly: true,
		Secure:   s.secure,
		SameSite: http.SameSiteLaxMode,
	})
}

// csrfToken returns the token for the request's CSRF cookie, setting a new
// cookie first when the browser has none.
func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 32 && len(c.Value) <= 64 {
		return s.csrfFor(c.Value)
	}
	v := randomToken(32)
	s.setCookie(w, csrfCookie, v, 24*time.Hour)
	return s.csrfFor(v)
}

func (s *Server) csrfFor(cookie string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte("csrf\x00" + cookie))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// postedForm parses a posted page form and checks its CSRF token. If
// either fails it answers (a bad request page, or the stale-form page) and
// returns false.
func (s *Server) postedForm(w http.ResponseWriter, r *http.Request) bool {
	if err := r.ParseForm(); err != nil {
		s.badForm(w, r)
		return false
	}
	if !s.checkCSRF(r) {
		s.staleForm(w, r)
		return false
	}
	return true
}

// checkCSRF reports whether the posted csrf_token matches the CSRF cookie.
func (s *Server) checkCSRF(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || c.Value == "" {
		return false
	}
	got := r.PostFormValue(csrfField)
	return hmac.Equal([]byte(got), []byte(s.csrfFor(c.Value)))
}

// login checks a username and password and starts a session.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if !s.postedForm(w, r) {
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	username := strings.TrimSpace(r.PostForm.Get("username"))
	password := r.PostForm.Get("password")
	if ok, wait := s.limits.byAddress(s.limits.loginAddress, r); !ok {
		s.tooManySignIns(w, r, next, username, wait)
		return
	}
	account := strings.ToLower(username)
	if !s.limits.cfg.Off {
		// Only failures spend the account's budget; when it is empty no
		// password is checked, so a brute force gets at most 10 guesses a
		// minute and the account opens again seconds after it stops.
		ok, wait, err := s.store.TakeAttempt(r.Context(), loginBucket(account), loginAccountLimit.every, loginAccountLimit.burst, false, s.now())
		if err != nil {
			s.serverError(w, r, "check the sign-in limit", err)
			return
		}
		if !ok {
			s.logger(r).Warn("sign-in rate limited", "username", username)
			s.tooManySignIns(w, r, next, username, wait)
			return
		}
	}
	u, err := s.store.GetUserByUsername(r.Context(), username)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		s.serverError(w, r, "load user", err)
		return
	}
	hash := u.PasswordHash
	if err != nil {
		hash = s.dummyHash()
	}
	// Each check holds argonMemory (19 MiB) while it runs; checks wait for
	// one of GOMAXPROCS slots, so that many sign-ins at once cost queueing,
	// not memory (16 at once held 300 MiB before).
	select {
	case s.passwordSlots <- struct{}{}:
	case <-r.Context().Done():
		return
	}
	ok := VerifyPassword(hash, password) && err == nil
	<-s.passwordSlots
	if !ok {
		if !s.limits.cfg.Off {
			if _, _, err := s.store.TakeAttempt(r.Context(), loginBucket(account), loginAccountLimit.every, loginAccountLimit.burst, true, s.now()); err != nil {
				s.logger(r).Warn("record a sign-in failure", "err", err)
			}
		}
		s.logger(r).Info("sign-in failed", "username", username)
		s.audit(r, AuditLogin, u.ID, "", "failure", "wrong username or password")
		s.renderLogin(w, r, http.StatusUnauthorized, next, username, "Wrong username or password.")
		return
	}
	id := randomToken(32)
	now := s.now().UTC().Truncate(time.Second)
	err = s.store.CreateSession(r.Context(), storage.Session{
		IDHash:    hashSessionID(id),
		UserID:    u.ID,
		CreatedAt: now,
		ExpiresAt: now.Add(s.sessionTTL),
	})
	if err != nil {
		s.serverError(w, r, "create session", err)
		return
	}
	s.setCookie(w, sessionCookie, id, s.sessionTTL)
	s.trace.Note(r, trace.Note{User: u.Username, UserID: u.ID})
	s.logger(r).Info("signed in", "user_id", u.ID)
	s.audit(r, AuditLogin, u.ID, "", "success", "")
	if next == "" {
		s.infoPage(w, r, "Signed in", "You are signed in as "+u.Username+". You can close this tab.")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout ends the session.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if !s.postedForm(w, r) {
		return
	}
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" && len(c.Value) <= 128 {
		if err := s.store.DeleteSession(r.Context(), hashSessionID(c.Value)); err != nil && !errors.Is(err, storage.ErrNotFound) {
			s.serverError(w, r, "delete session", err)
			return
		}
	}
	s.setCookie(w, sessionCookie, "", -time.Second)
	s.infoPage(w, r, "Signed out", "You are signed out.")
}

// safeNext returns next if it is a same-site path tenantless serves after
// sign-in, else "". It never yields an absolute or scheme-relative URL, so
// sign-in cannot be used as an open redirect.
func safeNext(next string) string {
	if next == "" || len(next) > 8192 || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.ContainsAny(next, "\\\r\n\t") {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return ""
	}
	if u.Path != "/authorize" && u.Path != "/account" && u.Path != "/trace" {
		return ""
	}
	return u.RequestURI()
}

func (s *Server) tooManySignIns(w http.ResponseWriter, r *http.Request, next, username string, wait time.Duration) {
	secs := retryAfter(w, wait)
	s.renderLogin(w, r, http.StatusTooManyRequests, next, username,
		fmt.Sprintf("Too many sign-in attempts. Wait %d seconds, then try again.", secs))
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, next, username, msg string) {
	page := web.LoginPage{
		Action:    "/login",
		Next:      next,
		CSRFToken: s.csrfToken(w, r),
		Username:  username,
		Error:     msg,
	}
	if err := s.tmpl.Login(w, status, page); err != nil {
		s.logger(r).Error("render login page", "err", err)
	}
}

// loginBucket names an account's sign-in failure bucket in the store,
// shared by every instance: the SHA-256 of the lower-cased username, so
// that any bytes a form sends make a fixed-size ASCII key.
func loginBucket(account string) string {
	sum := sha256.Sum256([]byte(account))
	return "login:" + hex.EncodeToString(sum[:])
}
