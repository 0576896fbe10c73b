// Package e2e holds end-to-end tests of the whole product: relay, agent and
// core lab with real storage, real processes and real failures. It has no
// non-test code beyond this comment.
package e2e
