// Package triagecheck holds only a test: it asserts that simnet's copy of
// the verdict names and finding codes still matches package triage. It is a
// separate package so that simnet itself builds and tests without triage.
package triagecheck
