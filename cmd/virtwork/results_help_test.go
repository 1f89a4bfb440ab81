package main

import (
	"strings"
	"testing"

	"github.com/virtwork/virtwork/results"
)

// 'results --help' names, as "verb resource", every right that
// results.Rules grants the reader in TestDirect, so help cannot promise
// less than the code calls.
func TestResultsHelpNamesItsRBAC(t *testing.T) {
	help := strings.Join(strings.Fields((&resultsCmd{}).Help()), " ")
	for _, rule := range results.Rules(true) {
		for _, verb := range rule.Verbs {
			for _, res := range rule.Resources {
				if !strings.Contains(help, verb+" "+res) {
					t.Errorf("results --help does not name %q:\n%s", verb+" "+res, help)
				}
			}
		}
	}
}
