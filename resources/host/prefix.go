package host

import "context"

// WithCommandPrefix is t with every command run through prefix (for
// example ["ip", "netns", "exec", "sqlns"]: the programs run in another
// network namespace of the same host). Files are read and written as t
// does. An empty prefix gives t itself.
func WithCommandPrefix(t Transport, prefix []string) Transport {
	if len(prefix) == 0 {
		return t
	}
	return prefixed{Transport: t, prefix: append([]string(nil), prefix...)}
}

type prefixed struct {
	Transport
	prefix []string
}

func (p prefixed) Exec(ctx context.Context, c Command) (Output, error) {
	argv := make([]string, 0, len(p.prefix)+len(c.Argv))
	c.Argv = append(append(argv, p.prefix...), c.Argv...)
	return p.Transport.Exec(ctx, c)
}
