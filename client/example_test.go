package client_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"os"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/runnel-broker/runnel/client"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// exampleTopic creates a topic on the examples' broker.
func exampleTopic(c *client.Client, name string, partitions int32) {
	if _, err := c.Admin.CreateTopic(context.Background(), &runnelv1.CreateTopicRequest{Name: name, Partitions: partitions}); err != nil {
		log.Fatal(err)
	}
}

// Connect to a cluster through any of its brokers; the client learns the
// rest.
func ExampleNew() {
	ctx := context.Background()
	c, err := client.New(ctx, []string{exampleBroker}) // e.g. "10.0.0.1:7400", "10.0.0.2:7400"
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	resp, err := c.Admin.DescribeCluster(ctx, &runnelv1.DescribeClusterRequest{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("brokers:", len(resp.Brokers))
	// Output: brokers: 1
}

// Produce one record and wait for its ack.
func ExampleProducer_ProduceSync() {
	ctx := context.Background()
	c, err := client.New(ctx, []string{exampleBroker})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	exampleTopic(c, "orders", 1)

	p := c.Producer()
	defer p.Close()
	ack, err := p.ProduceSync(ctx, &client.Record{Topic: "orders", Key: []byte("order-1"), Value: []byte(`{"total":42}`)})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("appended at %s/%d offset %d\n", ack.Topic, ack.Partition, ack.Offset)
	// Output: appended at orders/0 offset 0
}

// Produce many records without waiting for each: the callback reports
// each one's outcome, and Flush waits for all of them.
func ExampleProducer_Produce() {
	ctx := context.Background()
	c, err := client.New(ctx, []string{exampleBroker})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	exampleTopic(c, "clicks", 3)

	p := c.Producer()
	defer p.Close()
	failed := make(chan error, 100)
	for i := range 100 {
		rec := &client.Record{Topic: "clicks", Key: fmt.Appendf(nil, "user-%d", i%10), Value: []byte("click")}
		p.Produce(ctx, rec, func(_ client.Ack, err error) {
			if err != nil {
				failed <- err // a *client.RecordError: which record, and why
			}
		})
	}
	if err := p.Flush(ctx); err != nil {
		log.Fatal(err)
	}
	close(failed)
	fmt.Println("failed:", len(failed))
	// Output: failed: 0
}

// ProduceAsync returns a Result to wait on later, or select on.
func ExampleProducer_ProduceAsync() {
	ctx := context.Background()
	c, err := client.New(ctx, []string{exampleBroker})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	exampleTopic(c, "payments", 1)

	p := c.Producer()
	defer p.Close()
	results := []*client.Result{
		p.ProduceAsync(ctx, &client.Record{Topic: "payments", Value: []byte("a")}),
		p.ProduceAsync(ctx, &client.Record{Topic: "payments", Value: []byte("b")}),
	}
	for _, r := range results {
		ack, err := r.Wait(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("offset", ack.Offset)
	}
	// Output:
	// offset 0
	// offset 1
}

// A refused record fails at once, saying which record and why.
func ExampleRecordError() {
	ctx := context.Background()
	c, err := client.New(ctx, []string{exampleBroker})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	exampleTopic(c, "tiny", 1)

	p := c.Producer()
	defer p.Close()
	_, err = p.ProduceSync(ctx, &client.Record{Topic: "tiny", Partition: new(int32(7)), Value: []byte("x")})
	var re *client.RecordError
	if errors.As(err, &re) {
		fmt.Println(re.Partition, err)
	}
	// Output: 7 runnel: record tiny/7 not appended: rpc error: code = InvalidArgument desc = partition 7 does not exist: topic "tiny" has partitions 0 to 0
}

// A group member: the brokers assign the topics' partitions among the
// group's members; the consumer commits what its loop finished with
// (every 5s, on a rebalance and on Close).
func ExampleConsumer_Records() {
	ctx := context.Background()
	c, err := client.New(ctx, []string{exampleBroker})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	exampleTopic(c, "signups", 2)
	p := c.Producer()
	for _, user := range []string{"ada", "grace", "edsger"} {
		if _, err := p.ProduceSync(ctx, &client.Record{Topic: "signups", Partition: new(int32(0)), Value: []byte(user)}); err != nil {
			log.Fatal(err)
		}
	}
	p.Close()

	k, err := c.Consumer(ctx, client.WithGroup("mailer"), client.WithTopics("signups"),
		client.OnAssigned(func(_ context.Context, partitions map[string][]int32) {
			fmt.Println("assigned", partitions)
		}))
	if err != nil {
		log.Fatal(err)
	}
	defer k.Close() // commits, and leaves the group
	n := 0
	for rec, err := range k.Records(ctx) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s/%d@%d %s\n", rec.Topic, *rec.Partition, rec.Offset, rec.Value)
		if n++; n == 3 {
			break
		}
	}
	// Output:
	// assigned map[signups:[0 1]]
	// signups/0@0 ada
	// signups/0@1 grace
	// signups/0@2 edsger
}

// Read chosen partitions, with no group membership, from an offset, and
// commit by hand to a group that only keeps the offsets.
func ExampleConsumer_Seek() {
	ctx := context.Background()
	c, err := client.New(ctx, []string{exampleBroker})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	exampleTopic(c, "audit", 1)
	p := c.Producer()
	for i := range 10 {
		p.Produce(ctx, &client.Record{Topic: "audit", Value: fmt.Appendf(nil, "event %d", i)}, nil)
	}
	if err := p.Flush(ctx); err != nil {
		log.Fatal(err)
	}
	p.Close()

	k, err := c.Consumer(ctx, client.WithAssignment(map[string][]int32{"audit": {0}}),
		client.WithGroup("auditor"), client.WithAutoCommit(0))
	if err != nil {
		log.Fatal(err)
	}
	defer k.Close()
	if err := k.Seek("audit", 0, 7); err != nil {
		log.Fatal(err)
	}
	var last *client.Record
	for rec, err := range k.Records(ctx) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(rec.Offset, string(rec.Value))
		if last = rec; rec.Offset == 9 {
			break
		}
	}
	if err := k.CommitRecords(ctx, last); err != nil { // the group's offset is now 10
		log.Fatal(err)
	}
	// Output:
	// 7 event 7
	// 8 event 8
	// 9 event 9
}

// Pause a partition while its records cannot be handled, and resume it
// later: nothing of it is returned, or held, meanwhile.
func ExampleConsumer_Pause() {
	ctx := context.Background()
	c, err := client.New(ctx, []string{exampleBroker})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	exampleTopic(c, "jobs", 2)
	k, err := c.Consumer(ctx, client.WithAssignment(map[string][]int32{"jobs": nil}))
	if err != nil {
		log.Fatal(err)
	}
	defer k.Close()
	if err := k.Pause("jobs", 1); err != nil {
		log.Fatal(err)
	}
	p := c.Producer()
	for _, part := range []int32{1, 0} {
		if _, err := p.ProduceSync(ctx, &client.Record{Topic: "jobs", Partition: new(part), Value: fmt.Appendf(nil, "job on %d", part)}); err != nil {
			log.Fatal(err)
		}
	}
	p.Close()
	n := 0
	for rec, err := range k.Records(ctx) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(string(rec.Value))
		if n++; n == 1 {
			if err := k.Resume("jobs", 1); err != nil {
				log.Fatal(err)
			}
		}
		if n == 2 {
			break
		}
	}
	// Output:
	// job on 0
	// job on 1
}

// Manage topics with the admin helpers; refusals are the broker's status.
func ExampleAdmin() {
	ctx := context.Background()
	c, err := client.New(ctx, []string{exampleBroker})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	adm := client.NewAdmin(c)

	t, err := adm.CreateTopic(ctx, "inventory", 2, 1, map[string]string{"retention.ms": "86400000"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(t.Name, t.Partitions, t.Config["retention.ms"])
	if _, err := adm.CreateTopic(ctx, "inventory", 2, 1, nil); status.Code(err) == codes.AlreadyExists {
		fmt.Println("already exists")
	}
	d, err := adm.DescribeTopic(ctx, "inventory")
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range d.Partitions {
		fmt.Println("partition", p.Partition, "leader", p.Leader)
	}
	// Output:
	// inventory 2 86400000
	// already exists
	// partition 0 leader 1
	// partition 1 leader 1
}

// Connect to brokers serving TLS that require a client certificate
// (runnel serve --tls-cert ... --tls-client-ca ...).
func ExampleWithTLS() {
	caPEM, err := os.ReadFile("ca.pem")
	if err != nil {
		log.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	cert, err := tls.LoadX509KeyPair("client.crt", "client.key")
	if err != nil {
		log.Fatal(err)
	}
	c, err := client.New(context.Background(), []string{"broker-1.example:7400"},
		client.WithTLS(&tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}}))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
}
