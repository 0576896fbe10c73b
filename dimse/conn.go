package dimse

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

var (
	// ErrAborted is returned when the peer aborts the association, or
	// passed to a [Handler] whose instance will never complete.
	ErrAborted = errors.New("dimse: association aborted")
	// ErrUnexpectedPDU is returned for a PDU the current state does not
	// allow (PS3.8 section 9.2 state machine).
	ErrUnexpectedPDU = errors.New("dimse: unexpected pdu")
)

// conn is the transport of one association, shared by the SCP and the SCU
// sides: a PDU reader with the limits we announced, a buffered writer and
// the peer's maximum P-DATA-TF length.
type conn struct {
	nc      net.Conn
	pr      *pduReader
	bw      *bufio.Writer
	peerMax uint32 // largest PDU length the peer accepts; fragments fit in it
	wbuf    []byte // reused encoding buffer
	// writeTimeout, when set, bounds every write.
	writeTimeout time.Duration
}

// armWrite sets the write deadline for the next write.
func (c *conn) armWrite() {
	if c.writeTimeout > 0 {
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	}
}

// newConn wraps nc; ourMax is the P-DATA-TF limit we announce.
func newConn(nc net.Conn, ourMax uint32) *conn {
	return &conn{
		nc: nc,
		pr: newPDUReader(bufio.NewReaderSize(nc, 32*1024), Limits{PData: ourMax}),
		bw: bufio.NewWriterSize(nc, 32*1024),
	}
}

// setPeerMax records the peer's maximum PDU length (0 means unlimited,
// which we cap at MaxMaxPDU).
func (c *conn) setPeerMax(n uint32) {
	if n == 0 || n > MaxMaxPDU {
		n = MaxMaxPDU
	}
	if n < 64 {
		n = 64
	}
	c.peerMax = n
}

// read reads the next PDU, waiting at most timeout (0: no deadline).
func (c *conn) read(timeout time.Duration) (PDU, error) {
	if timeout > 0 {
		_ = c.nc.SetReadDeadline(time.Now().Add(timeout))
	}
	return c.pr.next()
}

// write sends p and flushes.
func (c *conn) write(p PDU) error {
	b, err := encodePDU(c.wbuf[:0], p)
	if err != nil {
		return err
	}
	c.wbuf = b
	c.armWrite()
	if _, err := c.bw.Write(b); err != nil {
		return fmt.Errorf("dimse: write pdu type 0x%02x: %w", p.Type(), err)
	}
	if err := c.bw.Flush(); err != nil {
		return fmt.Errorf("dimse: write pdu type 0x%02x: %w", p.Type(), err)
	}
	return nil
}

// abort sends an A-ABORT (best effort, bounded in time) and closes.
func (c *conn) abort(source, reason byte) {
	c.writeTimeout = 2 * time.Second
	_ = c.write(&Abort{Source: source, Reason: reason})
	_ = c.nc.Close()
}

// sendCommand sends a command set on presentation context id: as one
// P-DATA-TF in one write when it fits the peer's maximum PDU length (it
// always does in practice: a command set is a few hundred bytes), else
// fragmented.
func (c *conn) sendCommand(id byte, cmd *command) error {
	b := append(c.wbuf[:0], pduPDataTF, 0, 0, 0, 0, 0, 0, 0, 0, 0, id, 3)
	b = cmd.appendTo(b)
	c.wbuf = b
	if len(b)-6 > int(c.peerMax) {
		w := c.fragmenter(id, true)
		if _, err := w.Write(b[12:]); err != nil {
			return err
		}
		return w.Close()
	}
	binary.BigEndian.PutUint32(b[2:], uint32(len(b)-6))
	binary.BigEndian.PutUint32(b[6:], uint32(len(b)-10))
	c.armWrite()
	if _, err := c.nc.Write(b); err != nil {
		return fmt.Errorf("dimse: write p-data-tf: %w", err)
	}
	return nil
}

// fragmenter returns a writer that cuts a command or data set into PDVs
// that fit the peer's maximum PDU length, one PDV per P-DATA-TF. The last
// fragment is sent by Close, so it always carries the last bytes.
func (c *conn) fragmenter(id byte, isCommand bool) *pdvWriter {
	max := (int(c.peerMax) - 6) &^ 1 // fragments have even lengths
	return &pdvWriter{c: c, id: id, command: isCommand, max: max, buf: make([]byte, 0, max)}
}

// pdvWriter is the io.WriteCloser of [conn.fragmenter].
type pdvWriter struct {
	c       *conn
	id      byte
	command bool
	max     int
	buf     []byte
	n       int64
}

// Write buffers p, sending full fragments as more data arrives.
func (w *pdvWriter) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		if len(w.buf) == w.max {
			if err := w.flush(false); err != nil {
				return total - len(p), err
			}
		}
		k := min(len(p), w.max-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
	}
	w.n += int64(total)
	return total, nil
}

// ReadFrom fills fragments straight from r.
func (w *pdvWriter) ReadFrom(r io.Reader) (int64, error) {
	var n int64
	for {
		if len(w.buf) == w.max {
			if err := w.flush(false); err != nil {
				return n, err
			}
		}
		k, err := r.Read(w.buf[len(w.buf):w.max])
		w.buf = w.buf[:len(w.buf)+k]
		n += int64(k)
		w.n += int64(k)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// flush sends the buffered bytes as one PDV.
func (w *pdvWriter) flush(last bool) error {
	var hdr [12]byte
	hdr[0] = pduPDataTF
	binary.BigEndian.PutUint32(hdr[2:], uint32(len(w.buf)+6))
	binary.BigEndian.PutUint32(hdr[6:], uint32(len(w.buf)+2))
	hdr[10] = w.id
	if w.command {
		hdr[11] |= 1
	}
	if last {
		hdr[11] |= 2
	}
	w.c.armWrite()
	_, err := w.c.bw.Write(hdr[:])
	if err == nil {
		_, err = w.c.bw.Write(w.buf)
	}
	if err == nil {
		err = w.c.bw.Flush()
	}
	w.buf = w.buf[:0]
	if err != nil {
		return fmt.Errorf("dimse: write p-data-tf: %w", err)
	}
	return nil
}

// Close sends the last fragment. A data set of odd length (a deflated
// stream written without its pad byte) gets the trailing NUL that PS3.5
// section A.5 requires, so that every fragment has an even length.
func (w *pdvWriter) Close() error {
	if !w.command && w.n%2 == 1 {
		w.buf = append(w.buf, 0)
		w.n++
	}
	return w.flush(true)
}

// isTimeout reports whether err is a network timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
