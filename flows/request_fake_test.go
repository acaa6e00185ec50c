package flows

import (
	"context"
	"time"
)

// requestFake is fakeTx's part for merchant payment requests: requests,
// terminal failures, and the webhook and push outboxes, over slices.
type requestFake struct {
	requests  []PaymentRequest
	failures  []merchantFailure
	suspended map[string]time.Time
	webhooks  []WebhookEvent
	pushes    []USSDPush
}

type merchantFailure struct {
	merchant string
	phone    MSISDN
	at       time.Time
}

func (f *requestFake) CreateRequest(_ context.Context, r PaymentRequest) error {
	for _, x := range f.requests {
		if x.ID == r.ID {
			return ErrDuplicate
		}
	}
	f.requests = append(f.requests, r)
	return nil
}

func (f *requestFake) Request(_ context.Context, id string) (PaymentRequest, error) {
	for _, x := range f.requests {
		if x.ID == id {
			return x, nil
		}
	}
	return PaymentRequest{}, ErrNotFound
}

func (f *requestFake) RecentRequests(_ context.Context, merchant string, phone MSISDN, since time.Time) (int, error) {
	n := 0
	for _, x := range f.requests {
		if x.Merchant == merchant && x.Phone == phone && !x.Created.Before(since) {
			n++
		}
	}
	return n, nil
}

func (f *requestFake) MerchantFailure(_ context.Context, merchant string, phone MSISDN, at, since time.Time) (int, int, error) {
	f.failures = append(f.failures, merchantFailure{merchant, phone, at})
	n, phones := 0, map[MSISDN]bool{}
	for _, x := range f.failures {
		if x.merchant == merchant && !x.at.Before(since) {
			n++
			phones[x.phone] = true
		}
	}
	return n, len(phones), nil
}

func (f *requestFake) SuspendTerminal(_ context.Context, merchant string, at time.Time) error {
	if f.suspended == nil {
		f.suspended = map[string]time.Time{}
	}
	if _, ok := f.suspended[merchant]; !ok {
		f.suspended[merchant] = at
	}
	return nil
}

func (f *requestFake) QueueWebhook(_ context.Context, ev WebhookEvent) error {
	f.webhooks = append(f.webhooks, ev)
	return nil
}

func (f *requestFake) QueuePush(_ context.Context, p USSDPush) error {
	f.pushes = append(f.pushes, p)
	return nil
}
