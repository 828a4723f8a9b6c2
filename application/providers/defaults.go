package providers

import "time"

// DefaultRefreshWindow is ConnectionsConfig.RefreshWindow when it is left at
// zero. Five minutes gives the background refresh pass (every 30 seconds by
// default) several tries at a token before it expires.
const DefaultRefreshWindow = 5 * time.Minute

// DefaultLinkReuseMargin is ConnectionsConfig.LinkReuseMargin when it is left
// at zero. A Plaid link token lives four hours; reusing one only while it has
// more than an hour left keeps every attempt that reuses it (its state lives
// provider.StateTTL) far inside the token's life.
const DefaultLinkReuseMargin = time.Hour

// DefaultRefreshCooldown is ConnectionsConfig.RefreshCooldown when it is left
// at zero.
const DefaultRefreshCooldown = 30 * time.Second
