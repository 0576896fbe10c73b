package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// spareFiles is how many temporary received files the SCP keeps created
// ahead of the instances that will fill them.
const spareFiles = 2

// spareFile is a temporary received file created ahead of its instance.
type spareFile struct {
	name string // the received file name it will be renamed to
	f    *os.File
}

// makeSpares keeps s.spares full until stop is closed, then removes the
// spares left. Creating a file can take a while on a busy file system
// (ext4 looks for an inode not freed recently); done ahead, it is off the
// path between an instance's last fragment and its response.
func (s *SCP) makeSpares(stop <-chan struct{}) {
	defer func() {
		for {
			select {
			case sp := <-s.spares:
				discardTemp(sp.f)
			default:
				return
			}
		}
	}()
	pause := time.Duration(0)
	for {
		name := receivedName()
		f, err := createTemp(s.spareDir(), name)
		if err != nil {
			s.log.Warn().Err(err).Msg("dicom: cannot create a spare received file")
			pause = min(max(2*pause, 100*time.Millisecond), 5*time.Second)
			select {
			case <-time.After(pause):
				continue
			case <-stop:
				return
			}
		}
		pause = 0
		select {
		case s.spares <- spareFile{name: name, f: f}:
		case <-stop:
			discardTemp(f)
			return
		}
	}
}

// spareDir is where the temporary received files are created: the
// journal's folder, so that the received folder only ever lists received
// instances. The rename into the received folder stays on one file system.
func (s *SCP) spareDir() string { return filepath.Dir(journalPath(s.dir)) }

// removeSpares removes the temporary files an earlier run left.
func (s *SCP) removeSpares() error {
	es, err := os.ReadDir(s.spareDir())
	if err != nil {
		return fmt.Errorf("agent: dicom: journal folder: %w", pathless(err))
	}
	for _, e := range es {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".dcm.tmp") {
			os.Remove(filepath.Join(s.spareDir(), e.Name()))
		}
	}
	return nil
}

// takeSpare returns a spare temporary file, or creates one if none is
// ready.
func (s *SCP) takeSpare() (spareFile, error) {
	select {
	case sp := <-s.spares:
		return sp, nil
	default:
	}
	name := receivedName()
	f, err := createTemp(s.spareDir(), name)
	return spareFile{name: name, f: f}, err
}
