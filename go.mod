module github.com/paygate/paygate

go 1.26.8

replace github.com/fiorix/go-smpp => github.com/fiorix/go-smpp/v2 v2.0.0-20210507124410-a82a321cf1d8

require (
	github.com/fiorix/go-smpp v0.0.0-20210403173735-2894b96e70ba
	github.com/nyaruka/phonenumbers v1.8.1
	go.uber.org/goleak v1.3.0
	golang.org/x/text v0.43.0
)

require google.golang.org/protobuf v1.36.11 // indirect
