package providers

import "time"

// DefaultRefreshWindow is ConnectionsConfig.RefreshWindow when it is left at
// zero. Five minutes gives the background refresh pass (every 30 seconds by
// default) several tries at a token before it expires.
const DefaultRefreshWindow = 5 * time.Minute
