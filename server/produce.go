package server

import (
	"errors"
	"io"

	"google.golang.org/grpc/status"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
	"github.com/runnel-broker/runnel/server/internal/broker"
)

// maxProduceInFlight bounds the requests of one Produce stream submitted
// but not yet acknowledged: past it the stream stops reading, and gRPC
// flow control pushes back on the client.
const maxProduceInFlight = 64

type produceService struct {
	runnelv1.UnimplementedProduceServiceServer
	broker *broker.Broker
}

// Produce reads requests in order and submits each before reading the
// next, so requests keep their order per partition; a sender goroutine
// waits for the acks and writes responses in request order.
func (s *produceService) Produce(stream runnelv1.ProduceService_ProduceServer) error {
	ctx := stream.Context()
	responses := make(chan func() *runnelv1.ProduceResponse, maxProduceInFlight)
	sendErr := make(chan error, 1)
	go func() {
		var err error
		for next := range responses {
			resp := next()
			if err == nil {
				err = stream.Send(resp)
			}
		}
		sendErr <- err
	}()
	finish := func(recvErr error) error {
		close(responses)
		if err := <-sendErr; err != nil {
			return err
		}
		return recvErr
	}
	for {
		// NB: RecvMsg into a produceRequest: the codec leaves the records
		// as the producer encoded them (codec.go).
		req := &produceRequest{}
		err := stream.RecvMsg(req)
		if errors.Is(err, io.EOF) {
			return finish(nil)
		}
		if err != nil {
			return finish(err)
		}
		id := req.correlationID
		pending, err := s.broker.Produce(ctx, req.topic, req.partition, req.records)
		if err != nil {
			responses <- func() *runnelv1.ProduceResponse { return produceError(id, nil, err) }
			continue
		}
		responses <- func() *runnelv1.ProduceResponse {
			acks, err := pending.Wait(ctx)
			if err != nil {
				return produceError(id, acks, err)
			}
			return &runnelv1.ProduceResponse{CorrelationId: id, Acks: acks}
		}
	}
}

func produceError(id uint64, acks []*runnelv1.ProduceAck, err error) *runnelv1.ProduceResponse {
	return &runnelv1.ProduceResponse{
		CorrelationId: id,
		Acks:          acks,
		Error:         status.Convert(toStatus(err)).Proto(),
	}
}
