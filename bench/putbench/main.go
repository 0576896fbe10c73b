// Command putbench is the Go helper of bench/transfer.sh.
//
//	putbench put  -endpoint H:P -bucket B -access A -secret S -dir DIR [-j 8]
//	    raw minio-go PutObject of every file under DIR, j at a time (the S3 ceiling).
//	putbench dropwait -stage DIR -inbox DIR -api URL -token T -ca CA.crt -want N
//	    atomically renames every file of DIR into the watched inbox (same file
//	    system), then polls the relay API until N files are committed; prints the
//	    time from the first rename.
//	putbench mkbig -out FILE [-frames 4000]
//	    streams an explicit-LE Part 10 Enhanced CT file with FRAMES 512x512x16
//	    frames of native PixelData (4000 frames: about 2.1 GB).
//
// Every mode prints one line of key=value pairs on standard output.
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"dicomgate/relay"
	"dicomgate/transport"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: putbench put|dropwait|mkbig [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "put":
		err = put(os.Args[2:])
	case "dropwait":
		err = dropwait(os.Args[2:])
	case "mkbig":
		err = mkbig(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "putbench:", err)
		os.Exit(1)
	}
}

// files lists the regular files under dir, except the kit's answer key.
func files(dir string) ([]string, int64, error) {
	var out []string
	var total int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "answer_key.json" {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, p)
		total += fi.Size()
		return nil
	})
	return out, total, err
}

func put(args []string) error {
	f := flag.NewFlagSet("put", flag.ExitOnError)
	endpoint := f.String("endpoint", "", "S3 host:port")
	bucket := f.String("bucket", "", "bucket (created if missing)")
	access := f.String("access", "", "access key")
	secret := f.String("secret", "", "secret key")
	region := f.String("region", "us-east-1", "region")
	dir := f.String("dir", "", "folder of files to upload")
	jobs := f.Int("j", 8, "uploads at a time")
	partSize := f.Uint64("part-size", 16<<20, "multipart part size (as dicomgate's default)")
	unsigned := f.Bool("unsigned", false, "send as the relay does: unsigned payload with a CRC32C trailer (default: minio-go's defaults, SigV4-signed payload over plain HTTP)")
	f.Parse(args)
	ctx := context.Background()
	c, err := minio.New(*endpoint, &minio.Options{Creds: credentials.NewStaticV4(*access, *secret, ""), Region: *region, TrailingHeaders: *unsigned})
	if err != nil {
		return err
	}
	if ok, err := c.BucketExists(ctx, *bucket); err != nil {
		return err
	} else if !ok {
		if err := c.MakeBucket(ctx, *bucket, minio.MakeBucketOptions{Region: *region}); err != nil {
			return err
		}
	}
	list, total, err := files(*dir)
	if err != nil {
		return err
	}
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range *jobs {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(list) {
					return
				}
				if err := putOne(ctx, c, *bucket, fmt.Sprintf("raw/%06d", i), list[i], *partSize, *unsigned); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	if firstErr != nil {
		return firstErr
	}
	fmt.Printf("files=%d bytes=%d secs=%.3f files_per_s=%.1f mb_per_s=%.1f\n",
		len(list), total, secs, float64(len(list))/secs, float64(total)/1e6/secs)
	return nil
}

func putOne(ctx context.Context, c *minio.Client, bucket, key, path string, partSize uint64, unsigned bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	_, err = c.PutObject(ctx, bucket, key, f, fi.Size(), minio.PutObjectOptions{
		ContentType: "application/octet-stream", PartSize: partSize, DisableContentSha256: unsigned})
	return err
}

func dropwait(args []string) error {
	f := flag.NewFlagSet("dropwait", flag.ExitOnError)
	stage := f.String("stage", "", "folder holding the files (same file system as inbox)")
	inbox := f.String("inbox", "", "watched folder")
	api := f.String("api", "", "relay API base URL")
	token := f.String("token", "", "reader token")
	caFile := f.String("ca", "", "relay CA certificate (PEM)")
	project := f.String("project", "demo", "project")
	want := f.Int("want", 0, "committed files to wait for (in total, in the project)")
	timeout := f.Duration("timeout", 30*time.Minute, "give up after")
	poll := f.Duration("poll", 100*time.Millisecond, "API poll interval")
	f.Parse(args)
	pem, err := os.ReadFile(*caFile)
	if err != nil {
		return err
	}
	cert, err := transport.ParseCertificatePEM(pem)
	if err != nil {
		return err
	}
	client := &relay.Client{BaseURL: *api, Token: *token, CAFingerprint: transport.Fingerprint(cert)}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if _, err := committed(ctx, client, *project); err != nil {
		return fmt.Errorf("relay api: %w", err)
	}
	list, total, err := files(*stage)
	if err != nil {
		return err
	}
	// Destination folders first, so that the timed part is the renames.
	for _, p := range list {
		rel, _ := filepath.Rel(*stage, p)
		if err := os.MkdirAll(filepath.Dir(filepath.Join(*inbox, rel)), 0o700); err != nil {
			return err
		}
	}
	start := time.Now()
	for _, p := range list {
		rel, _ := filepath.Rel(*stage, p)
		if err := os.Rename(p, filepath.Join(*inbox, rel)); err != nil {
			return err
		}
	}
	dropped := time.Since(start)
	last := -1
	for {
		n, err := committed(ctx, client, *project)
		if err == nil && n != last {
			fmt.Fprintf(os.Stderr, "  %6.1fs  %d/%d committed\n", time.Since(start).Seconds(), n, *want)
			last = n
		}
		if err == nil && n >= *want {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("only %d of %d files committed: %w", last, *want, ctx.Err())
		case <-time.After(*poll):
		}
	}
	secs := time.Since(start).Seconds()
	fmt.Printf("files=%d bytes=%d secs=%.3f drop_secs=%.3f files_per_s=%.2f mb_per_s=%.1f\n",
		len(list), total, secs, dropped.Seconds(), float64(len(list))/secs, float64(total)/1e6/secs)
	return nil
}

// committed sums the committed files of every study of the project.
func committed(ctx context.Context, c *relay.Client, project string) (int, error) {
	studies, err := c.Studies(ctx, project)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range studies {
		n += s.Files
	}
	return n, nil
}

// dicomWriter writes explicit VR little endian elements.
type dicomWriter struct {
	b []byte
}

func (w *dicomWriter) elem(group, elem uint16, vr string, val []byte) {
	if len(val)%2 == 1 {
		pad := byte(' ')
		if vr == "UI" || vr == "OB" {
			pad = 0
		}
		val = append(val, pad)
	}
	w.b = binary.LittleEndian.AppendUint16(w.b, group)
	w.b = binary.LittleEndian.AppendUint16(w.b, elem)
	w.b = append(w.b, vr...)
	switch vr {
	case "OB", "OW", "SQ", "UN", "UT", "UC", "UR", "OF", "OD", "OL":
		w.b = append(w.b, 0, 0)
		w.b = binary.LittleEndian.AppendUint32(w.b, uint32(len(val)))
	default:
		w.b = binary.LittleEndian.AppendUint16(w.b, uint16(len(val)))
	}
	w.b = append(w.b, val...)
}

func (w *dicomWriter) str(group, elem uint16, vr, s string) { w.elem(group, elem, vr, []byte(s)) }

func (w *dicomWriter) us(group, elem uint16, v uint16) {
	w.elem(group, elem, "US", binary.LittleEndian.AppendUint16(nil, v))
}

func mkbig(args []string) error {
	f := flag.NewFlagSet("mkbig", flag.ExitOnError)
	out := f.String("out", "", "output file")
	frames := f.Int("frames", 4000, "number of 512x512x16 frames")
	f.Parse(args)
	const rows, cols = 512, 512
	frameBytes := rows * cols * 2
	pixelLen := uint64(*frames) * uint64(frameBytes)
	if pixelLen >= 1<<32-1 {
		return errors.New("pixel data too large for a 32-bit length")
	}
	const (
		sopClass = "1.2.840.10008.5.1.4.1.1.2.1" // Enhanced CT Image Storage
		root     = "2.25.31415926535897932384626433832795"
	)
	sop, study, series := root+".1", root+".2", root+".3"

	var meta dicomWriter
	meta.elem(0x0002, 0x0001, "OB", []byte{0, 1})
	meta.str(0x0002, 0x0002, "UI", sopClass)
	meta.str(0x0002, 0x0003, "UI", sop)
	meta.str(0x0002, 0x0010, "UI", "1.2.840.10008.1.2.1")
	meta.str(0x0002, 0x0012, "UI", "2.25.1234567")
	var head dicomWriter
	head.b = make([]byte, 128)
	head.b = append(head.b, "DICM"...)
	head.elem(0x0002, 0x0000, "UL", binary.LittleEndian.AppendUint32(nil, uint32(len(meta.b))))
	head.b = append(head.b, meta.b...)

	d := &head
	d.str(0x0008, 0x0008, "CS", `ORIGINAL\PRIMARY\AXIAL`)
	d.str(0x0008, 0x0016, "UI", sopClass)
	d.str(0x0008, 0x0018, "UI", sop)
	d.str(0x0008, 0x0020, "DA", "20240131")
	d.str(0x0008, 0x0030, "TM", "101500")
	d.str(0x0008, 0x0050, "SH", "ACC20240131X")
	d.str(0x0008, 0x0060, "CS", "CT")
	d.str(0x0008, 0x0070, "LO", "BenchCo")
	d.str(0x0008, 0x0080, "LO", "St Bench Hospital")
	d.str(0x0008, 0x0090, "PN", "Referrer^Rita")
	d.str(0x0010, 0x0010, "PN", "Bigfile^Bertha")
	d.str(0x0010, 0x0020, "LO", "MRN-2GB-0001")
	d.str(0x0010, 0x0030, "DA", "19600101")
	d.str(0x0010, 0x0040, "CS", "F")
	d.str(0x0018, 0x0050, "DS", "0.5")
	d.str(0x0020, 0x000D, "UI", study)
	d.str(0x0020, 0x000E, "UI", series)
	d.str(0x0020, 0x0010, "SH", "S1")
	d.str(0x0020, 0x0011, "IS", "1")
	d.str(0x0020, 0x0013, "IS", "1")
	d.us(0x0028, 0x0002, 1)
	d.str(0x0028, 0x0004, "CS", "MONOCHROME2")
	d.str(0x0028, 0x0008, "IS", fmt.Sprint(*frames))
	d.us(0x0028, 0x0010, rows)
	d.us(0x0028, 0x0011, cols)
	d.us(0x0028, 0x0100, 16)
	d.us(0x0028, 0x0101, 16)
	d.us(0x0028, 0x0102, 15)
	d.us(0x0028, 0x0103, 1)
	d.str(0x0028, 0x0301, "CS", "NO")
	// PixelData header; the value is streamed below.
	d.b = binary.LittleEndian.AppendUint16(d.b, 0x7FE0)
	d.b = binary.LittleEndian.AppendUint16(d.b, 0x0010)
	d.b = append(d.b, "OW"...)
	d.b = append(d.b, 0, 0)
	d.b = binary.LittleEndian.AppendUint32(d.b, uint32(pixelLen))

	tmp := *out + ".tmp"
	fo, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if _, err := fo.Write(d.b); err != nil {
		return err
	}
	frame := make([]byte, frameBytes)
	for i := range *frames {
		for y := range rows {
			for x := range cols {
				v := uint16((x*x+y*y+i*37)&0x0fff) - 1024
				binary.LittleEndian.PutUint16(frame[2*(y*cols+x):], v)
			}
		}
		if _, err := fo.Write(frame); err != nil {
			return err
		}
	}
	if err := fo.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, *out); err != nil {
		return err
	}
	fmt.Printf("file=%s bytes=%d frames=%d\n", *out, uint64(len(d.b))+pixelLen, *frames)
	return nil
}
