package providers

import (
	"fmt"
	"slices"

	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/provider"
)

// Registry holds the connectors this instance offers, by provider key. Bootstrap
// builds it explicitly from configuration.
type Registry struct {
	byKey map[string]Connector
	keys  []string
}

// NewRegistry indexes connectors by their type key; a duplicate key is an error.
func NewRegistry(connectors ...Connector) (*Registry, error) {
	r := &Registry{byKey: map[string]Connector{}}
	for _, c := range connectors {
		key := c.Type().Key
		if _, dup := r.byKey[key]; dup {
			return nil, fmt.Errorf("providers: two connectors with key %q", key)
		}
		r.byKey[key] = c
		r.keys = append(r.keys, key)
	}
	slices.Sort(r.keys)
	return r, nil
}

// Connector returns the connector for key.
func (r *Registry) Connector(key string) (Connector, bool) {
	c, ok := r.byKey[key]
	return c, ok
}

// Types lists the provider types, ordered by key.
func (r *Registry) Types() []ProviderType {
	out := make([]ProviderType, len(r.keys))
	for i, k := range r.keys {
		out[i] = r.byKey[k].Type()
	}
	return out
}

// connectorFor returns the connector of p's provider type. A type this
// instance no longer offers (switched off in the deployment's configuration) is
// domain.ErrProviderUnavailable.
func (r *Registry) connectorFor(p *provider.Provider) (Connector, error) {
	c, ok := r.byKey[p.Key()]
	if !ok {
		return nil, fmt.Errorf("provider type %q is not offered by this instance: %w", p.Key(), domain.ErrProviderUnavailable)
	}
	return c, nil
}
