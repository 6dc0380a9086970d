package serve

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/png"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"

	"plp/imaging"
	"plp/imaging/jpeg"
)

// apiError is an error answered with an HTTP status and counted under a kind in /metrics.
type apiError struct {
	status int
	kind   string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func errorf(status int, kind, format string, args ...any) *apiError {
	return &apiError{status: status, kind: kind, msg: fmt.Sprintf(format, args...)}
}

// statusOf maps any error to its status and kind; errors that are not apiErrors are the server's fault.
func statusOf(err error) (int, string) {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.status, ae.kind
	}
	return http.StatusInternalServerError, "internal"
}

// upload is one image of a request, still encoded.
type upload struct {
	name string // form file name or "image[i]", for messages
	data []byte
}

// jsonImages is the JSON request body: base64 images, optionally as data: URLs.
type jsonImages struct {
	Image  string   `json:"image"`
	Images []string `json:"images"`
}

// readUploads splits a request body into images by its Content-Type: one image as the raw body (image/*,
// application/octet-stream or no type), several as multipart/form-data (every file part is an image), or
// JSON {"images": [base64, ...]} (or {"image": base64}). single reports a raw-body request.
func readUploads(r *http.Request, maxImages int) (ups []upload, single bool, err error) {
	ct := r.Header.Get("Content-Type")
	mt, params, perr := mime.ParseMediaType(ct)
	if ct == "" {
		mt, perr = "application/octet-stream", nil
	}
	if perr != nil {
		return nil, false, errorf(http.StatusUnsupportedMediaType, "content_type", "bad Content-Type %q: %v", ct, perr)
	}
	switch {
	case strings.HasPrefix(mt, "image/") || mt == "application/octet-stream":
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, true, bodyError(err)
		}
		if len(b) == 0 {
			return nil, true, errorf(http.StatusBadRequest, "empty", "empty request body: send an image")
		}
		return []upload{{name: "image", data: b}}, true, nil
	case mt == "multipart/form-data":
		if params["boundary"] == "" {
			return nil, false, errorf(http.StatusBadRequest, "bad_multipart", "multipart/form-data without a boundary")
		}
		mr := multipart.NewReader(r.Body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, false, partError(err)
			}
			if p.FileName() == "" && p.FormName() != "image" && p.FormName() != "images" {
				p.Close()
				continue // a plain form field: not an image
			}
			if len(ups) == maxImages {
				return nil, false, errorf(http.StatusRequestEntityTooLarge, "too_many_images", "more than %d images in one request", maxImages)
			}
			b, err := io.ReadAll(p)
			if err != nil {
				return nil, false, partError(err)
			}
			name := p.FileName()
			if name == "" {
				name = fmt.Sprintf("image[%d]", len(ups))
			}
			ups = append(ups, upload{name: name, data: b})
		}
	case mt == "application/json":
		var req jsonImages
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, false, bodyError(err)
			}
			return nil, false, errorf(http.StatusBadRequest, "bad_json", "bad JSON body: %v (want {\"images\": [base64, ...]})", err)
		}
		if dec.More() {
			return nil, false, errorf(http.StatusBadRequest, "bad_json", "bad JSON body: data after the object")
		}
		imgs := req.Images
		if req.Image != "" {
			imgs = append([]string{req.Image}, imgs...)
		}
		if len(imgs) > maxImages {
			return nil, false, errorf(http.StatusRequestEntityTooLarge, "too_many_images", "%d images in one request, limit %d", len(imgs), maxImages)
		}
		for i, s := range imgs {
			name := fmt.Sprintf("image[%d]", i)
			b, err := decodeBase64(s)
			if err != nil {
				// Per image, as an undecodable image: the other images are still answered.
				ups = append(ups, upload{name: name, data: nil})
				continue
			}
			ups = append(ups, upload{name: name, data: b})
		}
	default:
		hint := ""
		if mt == "application/x-www-form-urlencoded" {
			hint = " (curl --data-binary sends this by default: add -H 'Content-Type: image/jpeg')"
		}
		return nil, false, errorf(http.StatusUnsupportedMediaType, "content_type",
			"Content-Type %s is not accepted: send image/*, application/octet-stream, multipart/form-data or application/json%s", mt, hint)
	}
	if len(ups) == 0 {
		return nil, false, errorf(http.StatusBadRequest, "empty", "no image in the request")
	}
	return ups, false, nil
}

// decodeBase64 reads standard or URL-safe base64, padded or not, with an optional data: URL prefix.
func decodeBase64(s string) ([]byte, error) {
	if strings.HasPrefix(s, "data:") {
		i := strings.Index(s, ",")
		if i < 0 || !strings.HasSuffix(s[:i], ";base64") {
			return nil, fmt.Errorf("data URL is not base64")
		}
		s = s[i+1:]
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("not base64")
}

func bodyError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errorf(http.StatusRequestEntityTooLarge, "body_too_large", "request body exceeds %d bytes", mbe.Limit)
	}
	return errorf(http.StatusBadRequest, "bad_body", "reading the request body: %v", err)
}

func partError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return bodyError(err)
	}
	return errorf(http.StatusBadRequest, "bad_multipart", "bad multipart body: %v", err)
}

// imageSize reads an image's declared size from its header without decoding pixels, so that a
// decompression bomb is refused before any pixel memory is allocated.
func imageSize(b []byte) (w, h int, err error) {
	var cfg func(io.Reader) (image.Config, error)
	switch imaging.Sniff(b) {
	case imaging.JPEG:
		c, err := jpeg.DecodeConfig(b)
		return c.Width, c.Height, err
	case imaging.PNG:
		cfg = png.DecodeConfig
	case imaging.GIF:
		cfg = gif.DecodeConfig
	case imaging.BMP:
		cfg = bmp.DecodeConfig
	case imaging.WEBP:
		cfg = webp.DecodeConfig
	case imaging.TIFF:
		cfg = tiff.DecodeConfig
	default:
		return 0, 0, imaging.ErrUnknownFormat
	}
	c, err := cfg(bytes.NewReader(b))
	return c.Width, c.Height, err
}

// decodeImage checks the declared pixel count against maxPixels, then decodes with plp's decoders.
func decodeImage(u upload, maxPixels int64) (*imaging.RGB, error) {
	if u.data == nil {
		return nil, errorf(http.StatusBadRequest, "bad_base64", "%s is not base64", u.name)
	}
	w, h, err := imageSize(u.data)
	if err != nil {
		if errors.Is(err, imaging.ErrUnknownFormat) {
			return nil, errorf(http.StatusUnsupportedMediaType, "unknown_format", "%s: not an image plp decodes (JPEG, PNG, GIF, BMP, WebP, TIFF)", u.name)
		}
		return nil, errorf(http.StatusBadRequest, "undecodable", "%s: bad image header: %v", u.name, err)
	}
	if w <= 0 || h <= 0 {
		return nil, errorf(http.StatusBadRequest, "undecodable", "%s: image has size %dx%d", u.name, w, h)
	}
	if int64(w)*int64(h) > maxPixels {
		return nil, errorf(http.StatusRequestEntityTooLarge, "too_many_pixels", "%s: %dx%d = %d pixels exceeds the limit of %d", u.name, w, h, int64(w)*int64(h), maxPixels)
	}
	img, err := imaging.DecodeBytes(u.data, u.name)
	if err != nil {
		if errors.Is(err, imaging.ErrDecompressionBomb) {
			return nil, errorf(http.StatusRequestEntityTooLarge, "too_many_pixels", "%v", err)
		}
		return nil, errorf(http.StatusBadRequest, "undecodable", "%s: %v", u.name, errors.Unwrap(err))
	}
	return img, nil
}
