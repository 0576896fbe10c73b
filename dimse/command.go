package dimse

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// Command element numbers of group 0000 (PS3.7 section E.1).
const (
	tagGroupLength      uint16 = 0x0000
	tagAffectedSOPClass uint16 = 0x0002
	tagCommandField     uint16 = 0x0100
	tagMessageID        uint16 = 0x0110
	tagRespondedTo      uint16 = 0x0120
	tagPriority         uint16 = 0x0700
	tagDataSetType      uint16 = 0x0800
	tagStatus           uint16 = 0x0900
	tagErrorComment     uint16 = 0x0902
	tagAffectedSOPInst  uint16 = 0x1000
	tagMoveOriginAE     uint16 = 0x1030
	tagMoveOriginID     uint16 = 0x1031
)

// dataSetAbsent is the CommandDataSetType value meaning "no data set".
const dataSetAbsent uint16 = 0x0101

// command is a decoded DIMSE command set. Only the fields this package uses
// are kept; the others are skipped.
type command struct {
	Field            uint16
	MessageID        uint16
	RespondedTo      uint16
	SOPClassUID      string
	SOPInstanceUID   string
	Priority         uint16
	HasDataSet       bool
	Status           uint16
	ErrorComment     string
	MoveOriginatorAE string
	MoveOriginatorID uint16
}

// decodeCommand parses a command set (implicit VR little endian, group
// 0000 only).
func decodeCommand(b []byte) (*command, error) {
	c := &command{HasDataSet: true}
	seen := map[uint16]bool{}
	for len(b) > 0 {
		if len(b) < 8 {
			return nil, fmt.Errorf("%w: truncated command element", ErrMalformedPDU)
		}
		group, elem := binary.LittleEndian.Uint16(b), binary.LittleEndian.Uint16(b[2:])
		n := binary.LittleEndian.Uint32(b[4:])
		if group != 0 {
			return nil, fmt.Errorf("%w: element (%04x,%04x) in command set", ErrMalformedPDU, group, elem)
		}
		if uint64(n) > uint64(len(b)-8) {
			return nil, fmt.Errorf("%w: command element (0000,%04x) length %d exceeds command", ErrMalformedPDU, elem, n)
		}
		v := b[8 : 8+n]
		b = b[8+n:]
		seen[elem] = true
		var err error
		switch elem {
		case tagAffectedSOPClass:
			c.SOPClassUID, err = uidString(v)
		case tagAffectedSOPInst:
			c.SOPInstanceUID, err = uidString(v)
		case tagCommandField:
			c.Field, err = us(v)
		case tagMessageID:
			c.MessageID, err = us(v)
		case tagRespondedTo:
			c.RespondedTo, err = us(v)
		case tagPriority:
			c.Priority, err = us(v)
		case tagStatus:
			c.Status, err = us(v)
		case tagMoveOriginID:
			c.MoveOriginatorID, err = us(v)
		case tagDataSetType:
			var t uint16
			t, err = us(v)
			c.HasDataSet = t != dataSetAbsent
		case tagErrorComment:
			c.ErrorComment = strings.TrimRight(string(v), " \x00")
		case tagMoveOriginAE:
			c.MoveOriginatorAE = strings.TrimSpace(string(v))
		}
		if err != nil {
			return nil, fmt.Errorf("dimse: command element (0000,%04x): %w", elem, err)
		}
	}
	if !seen[tagCommandField] {
		return nil, fmt.Errorf("%w: command set without command field", ErrMalformedPDU)
	}
	return c, nil
}

// us decodes a US value.
func us(v []byte) (uint16, error) {
	if len(v) != 2 {
		return 0, fmt.Errorf("%w: us value of %d bytes", ErrMalformedPDU, len(v))
	}
	return binary.LittleEndian.Uint16(v), nil
}

// encode returns the command set, group length first.
func (c *command) encode() []byte { return c.appendTo(nil) }

// appendTo appends the command set, group length first, to dst.
func (c *command) appendTo(dst []byte) []byte {
	b := binary.LittleEndian.AppendUint16(dst, 0)
	b = binary.LittleEndian.AppendUint16(b, tagGroupLength)
	b = binary.LittleEndian.AppendUint32(b, 4)
	b = binary.LittleEndian.AppendUint32(b, 0) // patched below
	start := len(b)
	str := func(elem uint16, s string, pad byte) {
		if s == "" {
			return
		}
		n := len(s) + len(s)%2
		b = binary.LittleEndian.AppendUint16(b, 0)
		b = binary.LittleEndian.AppendUint16(b, elem)
		b = binary.LittleEndian.AppendUint32(b, uint32(n))
		b = append(b, s...)
		if n > len(s) {
			b = append(b, pad)
		}
	}
	u16 := func(elem, v uint16) {
		b = binary.LittleEndian.AppendUint16(b, 0)
		b = binary.LittleEndian.AppendUint16(b, elem)
		b = binary.LittleEndian.AppendUint32(b, 2)
		b = binary.LittleEndian.AppendUint16(b, v)
	}
	// Elements in ascending tag order.
	str(tagAffectedSOPClass, c.SOPClassUID, 0)
	u16(tagCommandField, c.Field)
	if c.Field&0x8000 == 0 {
		u16(tagMessageID, c.MessageID)
	} else {
		u16(tagRespondedTo, c.RespondedTo)
	}
	if c.Field == cStoreRQ {
		u16(tagPriority, c.Priority)
	}
	ds := dataSetAbsent
	if c.HasDataSet {
		ds = 0x0000
	}
	u16(tagDataSetType, ds)
	if c.Field&0x8000 != 0 {
		u16(tagStatus, c.Status)
		str(tagErrorComment, c.ErrorComment, ' ')
	}
	str(tagAffectedSOPInst, c.SOPInstanceUID, 0)
	binary.LittleEndian.PutUint32(b[start-4:], uint32(len(b)-start))
	return b
}
