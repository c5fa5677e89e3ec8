// Package page serves the vibepass check-in page: plain JavaScript embedded in
// the binary that checks the signed-in user in on load, shows the minutes left on
// their vibe pass and lets them check out, all through the proxy's own API. It also
// serves the dashboard, which shows the model's view of who is present, live.
package page

import (
	"embed"

	"github.com/gofiber/fiber/v2"
)

//go:embed index.html app.js style.css dashboard.html dashboard.js
var files embed.FS

// contentTypes names each embedded file's type; fixed here rather than taken
// from the host's mime tables, which differ between machines.
var contentTypes = map[string]string{
	"index.html": fiber.MIMETextHTMLCharsetUTF8,
	"app.js":     fiber.MIMETextJavaScriptCharsetUTF8,
	"style.css":  "text/css; charset=utf-8",

	"dashboard.html": fiber.MIMETextHTMLCharsetUTF8,
	"dashboard.js":   fiber.MIMETextJavaScriptCharsetUTF8,
}

// contentSecurityPolicy lets the page run only its own script and style and talk
// only to its own origin, so nothing is fetched from elsewhere and an injected
// script could not send the token away.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Register adds the pages' routes to r: GET / (the check-in page), /app.js,
// /style.css, /dashboard and /dashboard.js.
func Register(r fiber.Router) {
	r.Get("/", serve("index.html"))
	r.Get("/app.js", serve("app.js"))
	r.Get("/style.css", serve("style.css"))
	r.Get("/dashboard", serve("dashboard.html"))
	r.Get("/dashboard.js", serve("dashboard.js"))
}

// serve answers with one embedded file. Pages are revalidated on every load
// (no-cache) so a new binary's page is seen at once.
func serve(name string) fiber.Handler {
	content, err := files.ReadFile(name)
	if err != nil {
		panic("page: " + name + " is not embedded: " + err.Error()) // a build mistake, not a runtime condition
	}
	contentType := contentTypes[name]
	return func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, contentType)
		c.Set(fiber.HeaderCacheControl, "no-cache")
		c.Set(fiber.HeaderContentSecurityPolicy, contentSecurityPolicy)
		c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
		c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
		return c.Send(content)
	}
}
