// Package regularfile reads the files the program is given (catalogs,
// certificates and keys, imported documents) as one rule: a regular file,
// of a bounded size, refused by name and kind otherwise, before a byte is
// read. It does not know what the files hold.
package regularfile

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// Read reads a whole regular file of at most max bytes, as every file
// the program is given is read: catalogs, certificates and keys, imported
// documents. Anything but a regular file is refused by name before a byte
// is read: a named pipe (opened non-blocking, so that not even the open
// waits for a writer), a device such as /dev/zero, a socket, a directory
// (syscall.EISDIR). A file larger than max is refused on its size before
// it is read; the read is bounded as well, so a file that grows meanwhile
// cannot slip past the limit. The errors are *fs.PathError.
func Read(name string, max int64) ([]byte, error) {
	return ReadNote(name, max, "")
}

// ReadNote is Read; note ends the message of a file too large (", not a
// PEM file").
func ReadNote(name string, max int64, note string) ([]byte, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	refuse := func(err error) ([]byte, error) {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	switch m := st.Mode(); {
	case m.IsDir():
		return refuse(syscall.EISDIR)
	case !m.IsRegular():
		return refuse(fmt.Errorf("%s, not a regular file", fileKind(m)))
	case st.Size() > max:
		return refuse(fmt.Errorf("larger than %d bytes%s", max, note))
	}
	data, err := readAllSized(io.LimitReader(f, max+1), st.Size())
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return refuse(fmt.Errorf("larger than %d bytes%s", max, note))
	}
	return data, nil
}

// readAllSized is io.ReadAll into a buffer of size bytes to start with,
// and the few more that tell a file grown meanwhile: io.ReadAll's own
// buffers grow from 512 bytes and take twice the file and more before
// the parse begins.
func readAllSized(r io.Reader, size int64) ([]byte, error) {
	b := make([]byte, 0, size+512)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// fileKind names the type of a file that is not regular.
func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	default:
		return "a special file"
	}
}
