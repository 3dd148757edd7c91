// Package client is the Go SDK for Runnel: a connection to a broker with
// the generated runnel.v1 stubs, and options for dialing it. It depends
// only on the generated code (gen/), never on the server.
//
//	c, err := client.Dial("127.0.0.1:7400")
//	if err != nil { ... }
//	defer c.Close()
//	topics, err := c.Admin.ListTopics(ctx, &runnelv1.ListTopicsRequest{})
package client
