package relay

import (
	"reflect"
	"testing"

	"dicomgate/store"
)

func TestLineDiff(t *testing.T) {
	a := "id: p\nversion: 1\noptions: []\n"
	b := "id: p\nversion: 2\noptions: [retain-uids]\nrules: []\n"
	got := lineDiff(a, b)
	want := []diffLine{{" ", "id: p"}, {"-", "version: 1"}, {"-", "options: []"},
		{"+", "version: 2"}, {"+", "options: [retain-uids]"}, {"+", "rules: []"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("diff =\n%v\nwant\n%v", got, want)
	}
	if d := lineDiff("", "a\nb"); len(d) != 2 || d[0].Op != "+" || d[1].Op != "+" {
		t.Errorf("diff from nothing = %v", d)
	}
	if d := lineDiff("a\nb\n", "a\nb\n"); len(d) != 2 || d[0].Op != " " || d[1].Op != " " {
		t.Errorf("identical = %v", d)
	}
}

func TestPreviousRevision(t *testing.T) {
	h := []store.PolicyRevision{{ID: 3}, {ID: 1}, {ID: 7}}
	if p := previousRevision(h, &h[2]); p == nil || p.ID != 3 {
		t.Errorf("previous of 7 = %v", p)
	}
	if p := previousRevision(h, &h[1]); p != nil {
		t.Errorf("previous of the first = %v", p)
	}
}
