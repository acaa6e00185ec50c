package smpp_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate/smpp"
	"github.com/paygate/paygate/smpp/smsc"
)

const (
	chineseLong = "您的转账已完成：向尾号8000的账户转账人民币500.00元，手续费0.00元，参考号T7K2QXM4。如非本人操作，请立即发送STOP停用并致电客服。感谢您使用短信支付服务，祝您生活愉快！"
	gsmLong     = "Receipt T7K2QXM4: you sent CNY 500.00 to ****8000 {fee 0.00} [ref T7K2QXM4] at 2026-11-21 08:00. Balance requests: send BAL. Help: send HELP. Questions? Call 95588 ~ 24h. Thank you for using paygate €€€."
)

// Long texts go out split on character boundaries with UDH
// concatenation (8- and 16-bit references) and arrive whole and in order.
func TestSubmitTextLong(t *testing.T) {
	for _, ref16 := range []bool{false, true} {
		for name, text := range map[string]string{"chinese": chineseLong, "gsm": gsmLong, "short": "OK", "emoji": strings.Repeat("支付😀🇨🇳", 20)} {
			t.Run(name, func(t *testing.T) {
				sim := startSMSC(t, smsc.Config{})
				cfg := fastConfig(sim.Addr())
				cfg.Ref16 = ref16
				c := newClient(t, cfg)
				for i := range 3 {
					ids, err := c.SubmitText(ctxT(t), smpp.Text{Source: smpp.Address{Addr: "3030"}, Dest: smpp.Address{Addr: "+8613800138000"}, Body: text}, "")
					if err != nil {
						t.Fatal(err)
					}
					got := sim.ReceivedTexts("+8613800138000")
					if len(got) != i+1 || got[i] != text {
						t.Fatalf("phone has %q", got)
					}
					mts := sim.Received("+8613800138000")
					last := mts[len(mts)-len(ids):]
					for j, mt := range last {
						if mt.MessageID != ids[j] {
							t.Fatalf("part %d id %s, SubmitText said %s", j, mt.MessageID, ids[j])
						}
						if len(ids) > 1 {
							d := smpp.NewDelivery("", mt.PDU)
							if d.Concat.Ref16 != ref16 || int(d.Concat.Seq) != j+1 || d.Parts != len(ids) {
								t.Fatalf("part %d header %+v", j, d.Concat)
							}
						} else if mt.PDU.ESMClass&0x40 != 0 {
							t.Fatal("UDH on a single message")
						}
					}
				}
			})
		}
	}
}

// Long and Chinese MOs arrive in parts in any order, some twice; the
// handler gets each message once, whole, after its last part.
func TestInboundPartsReassembled(t *testing.T) {
	for _, ref16 := range []bool{false, true} {
		sim := startSMSC(t, smsc.Config{Ref16: ref16, RetryInterval: 20 * time.Millisecond})
		sim.Faults().SetDuplicates(0.3)
		var mu sync.Mutex
		got := map[string]int{}
		identities := map[string]bool{}
		cfg := fastConfig(sim.Addr())
		cfg.Handler = smpp.HandlerFunc(func(ctx context.Context, d *smpp.Delivery) smpp.Status {
			mu.Lock()
			defer mu.Unlock()
			got[d.Text()]++
			identities[string(d.Identity())] = true
			return smpp.StatusOK
		})
		newClient(t, cfg)
		texts := []string{chineseLong, gsmLong, strings.Repeat("转账😀", 40), "HELP"}
		for i, text := range texts {
			ids, err := sim.InjectText("+8613800138000", "3030", text, i%2 == 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range ids {
				if err := sim.WaitDelivered(ctxT(t), id); err != nil {
					t.Fatal(err)
				}
			}
		}
		eventually(t, "all messages", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(got) == len(texts)
		})
		mu.Lock()
		for _, text := range texts {
			if got[text] == 0 {
				t.Fatalf("ref16=%v: %q never arrived whole; got %v", ref16, text, got)
			}
		}
		if len(identities) != len(texts) {
			t.Fatalf("%d identities for %d messages", len(identities), len(texts))
		}
		mu.Unlock()
	}
}

// A handler that refuses a complete message makes the SMSC deliver its
// last part again, which completes it again.
func TestRefusedLongMessageCompletesAgain(t *testing.T) {
	sim := startSMSC(t, smsc.Config{RetryInterval: 20 * time.Millisecond})
	var mu sync.Mutex
	var calls []string
	cfg := fastConfig(sim.Addr())
	cfg.Handler = smpp.HandlerFunc(func(ctx context.Context, d *smpp.Delivery) smpp.Status {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, d.Text())
		if len(calls) == 1 {
			return smpp.StatusRxTAppn // the store was down
		}
		return smpp.StatusOK
	})
	newClient(t, cfg)
	ids, err := sim.InjectText("+8613800138000", "3030", chineseLong, false)
	if err != nil || len(ids) < 2 {
		t.Fatal(len(ids), err)
	}
	for _, id := range ids {
		if err := sim.WaitDelivered(ctxT(t), id); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 2 || calls[0] != chineseLong || calls[1] != chineseLong {
		t.Fatalf("calls %q", calls)
	}
}

// Receipts in TLV form, Appendix B text form, or both, with hex or
// decimal ids, all resolve to one status per multi-part message, even when
// a receipt overtakes the submit_sm_resp it reports on.
func TestReceiptsMatchedInEveryForm(t *testing.T) {
	for _, form := range []string{"both", "tlv", "text"} {
		for _, hex := range []bool{false, true} {
			t.Run(form+map[bool]string{true: "/hex", false: "/dec"}[hex], func(t *testing.T) {
				sim := startSMSC(t, smsc.Config{DLR: true, Receipts: form, HexIDs: hex})
				tracker := smpp.NewReceiptTracker(0, nil)
				final := make(chan smpp.MTStatus, 10)
				cfg := fastConfig(sim.Addr())
				cfg.Handler = smpp.HandlerFunc(func(ctx context.Context, d *smpp.Delivery) smpp.Status {
					r, ok := d.Receipt()
					if !ok {
						t.Errorf("not a receipt: %q", d.Text())
						return smpp.StatusOK
					}
					if st, ok := tracker.Receipt(r); ok && st.Final {
						final <- st
					}
					return smpp.StatusOK
				})
				c := newClient(t, cfg)
				for i, text := range []string{gsmLong, "short", chineseLong} {
					ref := []string{"a", "b", "c"}[i]
					ids, err := c.SubmitText(ctxT(t), smpp.Text{Dest: smpp.Address{Addr: "+8613800138000"}, Body: text, Receipt: true}, ref)
					if err != nil {
						t.Fatal(err)
					}
					// Receipts may already have come: Submitted applies them.
					if st, ok := tracker.Submitted(ref, ids); ok && st.Final {
						final <- st
					}
					select {
					case st := <-final:
						if st.Ref != ref || st.State != smpp.StateDelivered || st.Parts != len(ids) {
							t.Fatalf("status %+v for %d parts", st, len(ids))
						}
					case <-time.After(10 * time.Second):
						t.Fatalf("no final status for %s", ref)
					}
				}
				if a, b := tracker.Len(); a != 0 || b != 0 {
					t.Fatalf("tracker holds %d, %d", a, b)
				}
			})
		}
	}
}

// USSD fields: the operation and the carrier's session id (in the TLV the
// bind names) are readable inbound and echoed back unchanged outbound.
func TestUSSDFields(t *testing.T) {
	for _, tag := range []smpp.Tag{smpp.TagITSSessionInfo, smpp.TagUserMessageReference} {
		sim := startSMSC(t, smsc.Config{})
		var c *smpp.Client
		ready := make(chan struct{})
		cfg := fastConfig(sim.Addr())
		cfg.USSDSession = tag
		cfg.Handler = smpp.HandlerFunc(func(ctx context.Context, d *smpp.Delivery) smpp.Status {
			<-ready
			u, ok := d.USSD()
			if !ok || u.Op != smpp.USSDPSSRIndication || !bytes.Equal(u.Session, []byte{0x12, 0x34}) || d.Text() != "*384#" {
				t.Errorf("ussd %+v %v %q", u, ok, d.Text())
				return smpp.StatusOK
			}
			reply := &smpp.PDU{Dest: d.PDU.Source, Source: d.PDU.Dest, ShortMessage: []byte("1 Send money\n2 Pay merchant")}
			reply.SetUSSD(smpp.USSDUSSRRequest, c.USSDSession(), u.Session)
			if _, err := c.Submit(ctx, reply, ""); err != nil {
				return smpp.StatusRxTAppn
			}
			return smpp.StatusOK
		})
		c = newClient(t, cfg)
		close(ready)
		sim.InjectUSSD("+8613800138000", "*384#", smpp.USSDPSSRIndication, tag, []byte{0x12, 0x34}, "*384#")
		mts, err := sim.WaitReceived(ctxT(t), "+8613800138000", 1)
		if err != nil {
			t.Fatal(err)
		}
		p := mts[0].PDU
		op, _ := p.TLVs.Uint(smpp.TagUSSDServiceOp)
		sess, _ := p.TLVs.Get(tag)
		if p.ServiceType != "USSD" || op != uint32(smpp.USSDUSSRRequest) || !bytes.Equal(sess, []byte{0x12, 0x34}) {
			t.Fatalf("reply %+v", p)
		}
	}
}

// data_sm is an inbound message like deliver_sm: handed to the handler off
// the read loop and answered data_sm_resp with the handler's status.
func TestDataSMInbound(t *testing.T) {
	w := listenWire(t)
	rec := newRecorder()
	rec.answer = func(d *smpp.Delivery) smpp.Status {
		if d.Text() == "refuse" {
			return smpp.StatusRxRAppn
		}
		return smpp.StatusOK
	}
	cfg := fastConfig(w.addr())
	cfg.Handler = rec
	newClient(t, cfg)
	w.accept()
	for i, text := range []string{"BAL", "refuse"} {
		p := &smpp.PDU{Command: smpp.DataSM, Seq: uint32(40 + i), Source: smpp.Address{Addr: "+8613800138000"}, Dest: smpp.Address{Addr: "3030"}}
		p.TLVs.Set(smpp.TagMessagePayload, []byte(text))
		w.send(p)
		if d := rec.next(t); d.Text() != text {
			t.Fatalf("handler got %q", d.Text())
		}
		resp := w.expect(smpp.DataSMResp)
		want := map[string]smpp.Status{"BAL": smpp.StatusOK, "refuse": smpp.StatusRxRAppn}[text]
		if resp.Seq != uint32(40+i) || resp.Status != want {
			t.Fatalf("data_sm_resp %s", resp)
		}
	}
}
