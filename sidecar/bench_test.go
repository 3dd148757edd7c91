package sidecar_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// BenchmarkDrain measures how fast a sidecar forwards a backlog: records
// spooled while the cluster was down (-backlog, 1 KiB each, keyed over 6
// partitions), forwarded once it is back. Run it once per count:
//
//	go test -run '^$' -bench Drain -benchtime 1x -count 5 ./sidecar/
func BenchmarkDrain(b *testing.B) {
	const records, valueBytes, perRequest = 100_000, 1000, 100
	br := startBroker(b)
	direct := dial(b, br.addr)
	if _, err := direct.admin.CreateTopic(context.Background(), &runnelv1.CreateTopicRequest{Name: "drain", Partitions: 6}); err != nil {
		b.Fatal(err)
	}
	sc := startSidecar(b, "", 1<<30, br.addr)
	app := dial(b, sc.Addr())
	value := make([]byte, valueBytes)
	request := func(i int) *runnelv1.ProduceRequest {
		req := &runnelv1.ProduceRequest{Topic: "drain"}
		for j := range perRequest {
			req.Records = append(req.Records, &runnelv1.Record{Key: []byte(fmt.Sprint(i*perRequest + j)), Value: value})
		}
		return req
	}
	produceOK(b, app, request(0))
	waitFor(b, 30*time.Second, "the spool to drain", drained(sc))
	br.stop()
	var reqs []*runnelv1.ProduceRequest
	for i := range records / perRequest {
		reqs = append(reqs, request(i))
	}
	produceOK(b, app, reqs...)
	if w := sc.Status().RecordsWaiting; w != records {
		b.Fatalf("%d records waiting, want %d", w, records)
	}

	b.ResetTimer()
	start := time.Now()
	br.start()
	waitFor(b, 5*time.Minute, "the backlog to drain", drained(sc))
	took := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(records)/took.Seconds(), "records/s")
	b.ReportMetric(float64(records*valueBytes)/took.Seconds()/1e6, "MB/s")
	b.ReportMetric(took.Seconds(), "s/drain")
}
