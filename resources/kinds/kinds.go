// Package kinds is the list of every kind of block milink knows. Adding a
// kind is writing it in its own package under resources/ and adding it
// here: the loader, the planner and the views stay as they are.
package kinds

import (
	"github.com/milink/milink/resources"
	"github.com/milink/milink/resources/azure"
	"github.com/milink/milink/resources/checks"
	"github.com/milink/milink/resources/link"
	"github.com/milink/milink/resources/sqlserver"
	"github.com/milink/milink/resources/tde"
)

// Registry returns the kinds, in the order plans list changes nothing
// else orders; extra kinds (tests) are appended.
func Registry(extra ...*resources.Kind) *resources.Registry {
	var all []*resources.Kind
	all = append(all, sqlserver.Kinds()...)
	all = append(all, azure.Kinds()...)
	all = append(all, tde.Kinds()...)
	all = append(all, link.Kinds()...)
	all = append(all, checks.Kind)
	all = append(all, extra...)
	return resources.NewRegistry(all...)
}
