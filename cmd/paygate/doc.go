// Paygate is the SMS and USSD payment gateway's one binary. Its
// subcommands run the gateway's parts and the simulators it is tested
// against; `paygate help` lists those that exist (SPEC.md §1).
//
// Everything the binary does starts in run, which takes its arguments,
// environment and output streams as parameters so that tests drive the
// whole command line in process.
package main
