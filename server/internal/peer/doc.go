// Package peer makes every call one broker makes to another, on the
// other's peer listener: produce forwarding (one multiplexed stream per
// broker), subscribe relays, DescribeTopic and DescribeCluster asked of
// the brokers that know, joining, and asking a data directory's
// identity. One connection per broker, dialled on first use; each call
// carries the "forwarded" marker (ForwardedHeader), set by an interceptor
// on every connection, and the receiver serves such a call itself or
// fails it, never forwarding it again. The broker decides where a call
// goes (broker.Member); this package only makes it.
package peer
