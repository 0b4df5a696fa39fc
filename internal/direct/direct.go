// Package direct computes 3x3 convolutions with stride 1 and padding 1 (the
// "same" convolutions of ResNets and VGG) straight from the image, without
// lowering them to a GEMM over an im2col matrix.
//
// The GEMM route (nn.Conv2d's default) packs, for every tile of output
// pixels, nine shifted copies of every input channel: a quarter of a
// ResNet-20 inference went into that gather. Here the image is copied once
// into planes with zero margins, and the kernel loads each tap's 32 input
// pixels straight from that copy (an unaligned vector load at a fixed
// offset), zeroing with a lane mask the pixels that wrap around a row edge.
// The multiply-adds are those of the GEMM: a tile of up to 12 output
// channels x 32 output pixels in registers, one broadcast filter tap times
// two input vectors per channel of the tile. Plan computes the forward pass
// (and, with flipped filters, the input gradient); WeightGrad the filters'
// gradient, 3 output channels x 9 taps of one input channel in registers,
// summed lane by lane over the pixels of a chunk of images.
//
// Available reports whether the kernels can run (amd64 with AVX-512F, not
// turned off). Results do not depend on how the work is split: each output
// sums its taps in one fixed order.
package direct

import (
	"fmt"
	"os"
	"strings"

	"github.com/evoprune/evoprune/internal/parallel"
)

// Env turns the direct convolution off when set to "gemm" (every
// convolution then goes through the GEMM route), for comparisons.
const Env = "EVOPRUNE_CONV"

const (
	maxTile = 12 // output channels per forward kernel call
	maxDW   = 3  // output channels per weight-gradient kernel call
)

// Available reports whether Plan.Run can be used on this machine and build.
func Available() bool { return available && enabled }

var enabled = func() bool {
	v := strings.ToLower(strings.TrimSpace(os.Getenv(Env)))
	return v != "gemm"
}()

// Plan is one convolution shape with its filters packed for the kernels.
// Pack it again whenever the filters change. Run may be called from several
// goroutines at once, each with its own Workspace.
type Plan struct {
	InC, OutC, H, W int

	tiles  []tile      // output-channel tiles
	packed []float32   // filters, tile by tile: [tap][channel of the tile]
	pix    [][6]uint16 // lane masks of each 32-pixel tile
	gap    int         // zeros between planes (and before the first)
	plane  int         // padded plane stride
}

type tile struct{ o0, mr, off int }

// Reset sets the plan's shape, reusing its storage. It fails for shapes the
// kernels cannot take.
func (p *Plan) Reset(inC, outC, h, w int) error {
	if inC <= 0 || outC <= 0 || h <= 0 || w <= 0 {
		return fmt.Errorf("direct: bad shape %d -> %d channels, %dx%d", inC, outC, h, w)
	}
	if p.InC == inC && p.OutC == outC && p.H == h && p.W == w {
		return nil
	}
	p.InC, p.OutC, p.H, p.W = inC, outC, h, w
	// Balanced tiles: 16 channels run as 8+8, not 12+4.
	nt := (outC + maxTile - 1) / maxTile
	p.tiles = p.tiles[:0]
	o0, off := 0, 0
	for t := 0; t < nt; t++ {
		mr := outC / nt
		if t < outC%nt {
			mr++
		}
		p.tiles = append(p.tiles, tile{o0: o0, mr: mr, off: off})
		o0 += mr
		off += mr * inC * 9
	}
	p.packed = grow(p.packed, outC*inC*9)
	hw := h * w
	p.pix = p.pix[:0]
	for j := 0; j < hw; j += 32 {
		var m [6]uint16
		for l := 0; l < 32; l++ {
			q := j + l
			if q >= hw {
				break
			}
			bit, half := uint16(1)<<(l%16), l/16
			x := q % w
			if x != 0 {
				m[half] |= bit
			}
			if x != w-1 {
				m[2+half] |= bit
			}
			m[4+half] |= bit
		}
		p.pix = append(p.pix, m)
	}
	// A tap reads at most one row and one pixel above or below the map;
	// a gap of w+1 zeros between planes serves both neighbours.
	p.gap = (w + 1 + 15) / 16 * 16
	p.plane = hw + p.gap
	return nil
}

// Pack copies the filters w ([OutC][InC][3][3], PyTorch's layout) into the
// kernels' order.
func (p *Plan) Pack(w []float32) {
	k := p.InC * 9
	if len(w) < p.OutC*k {
		panic(fmt.Sprintf("direct: %d filter values for %d x %d x 3 x 3", len(w), p.OutC, p.InC))
	}
	for _, t := range p.tiles {
		dst := p.packed[t.off : t.off+t.mr*k]
		for r := 0; r < t.mr; r++ {
			src := w[(t.o0+r)*k : (t.o0+r+1)*k]
			for q, v := range src {
				dst[q*t.mr+r] = v
			}
		}
	}
}

// Workspace holds one goroutine's zero-padded copy of an image.
type Workspace struct {
	buf       []float32
	inC, h, w int
}

// pad copies the image x ([InC][H][W]) into ws, whose margins stay zero.
func (p *Plan) pad(ws *Workspace, x []float32) {
	n := p.gap + p.InC*p.plane + 64
	if ws.inC != p.InC || ws.h != p.H || ws.w != p.W || len(ws.buf) < n {
		ws.buf = grow(ws.buf, n)
		clear(ws.buf)
		ws.inC, ws.h, ws.w = p.InC, p.H, p.W
	}
	hw := p.H * p.W
	for c := 0; c < p.InC; c++ {
		copy(ws.buf[p.gap+c*p.plane:p.gap+c*p.plane+hw], x[c*hw:(c+1)*hw])
	}
}

// Run computes one image: y[o][i] = sum over c, ky, kx of
// w[o][c][ky][kx] * x[c][i/W+ky-1][i%W+kx-1] (zero outside the map), or
// adds that to y when accumulate is set. x is [InC][H][W], y [OutC][H][W].
func (p *Plan) Run(ws *Workspace, x, y []float32, accumulate bool) {
	hw := p.H * p.W
	if len(x) < p.InC*hw || len(y) < p.OutC*hw {
		panic(fmt.Sprintf("direct: image of %d or output of %d values for %d -> %d channels of %dx%d",
			len(x), len(y), p.InC, p.OutC, p.H, p.W))
	}
	if !Available() {
		panic("direct: kernels not available (see Available)")
	}
	p.pad(ws, x)
	acc := 0
	if accumulate {
		acc = 1
	}
	base := p.gap - p.W - 1 // input of tap (0, 0) for output pixel 0
	for _, t := range p.tiles {
		kern := conv3Kernels[t.mr-1]
		a := &p.packed[t.off]
		for pi := range p.pix {
			j := pi * 32
			kern(a, &ws.buf[base+j], p.InC, p.plane, p.W, &p.pix[pi][0], &y[t.o0*hw+j], hw, acc)
		}
	}
}

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// WeightGrad is the weight gradient of the same convolution over a batch,
// computed from the image in place like Run.
type WeightGrad struct {
	InC, OutC, H, W int

	blocks []tile    // output-channel blocks of at most maxDW
	masks  []uint16  // per 16-pixel step: left-edge and right-edge lanes
	gap    int       // zeros between planes (and before the first)
	plane  int       // padded plane stride
	chunk  int       // images padded and summed together
	buf    []float32 // the chunk's padded images
	cur    wgCall    // the chunk in flight
}

type wgCall struct {
	x, dout, dw []float32
	i0, nimg    int
	phase       int // 0: pad the chunk's images, 1: sum over them
}

// chunkPixels is about how many pixels of one channel a kernel call sums
// before its lanes are folded into the gradient: enough that the fold is
// cheap, few enough that a chunk's images stay in the L2 cache.
const chunkPixels = 4096

// Reset sets the shape. ok is false for maps the kernels do not take (a
// pixel count that is not a multiple of 16); the caller then uses another
// route.
func (g *WeightGrad) Reset(inC, outC, h, w int) (ok bool, err error) {
	if inC <= 0 || outC <= 0 || h <= 0 || w <= 0 {
		return false, fmt.Errorf("direct: bad shape %d -> %d channels, %dx%d", inC, outC, h, w)
	}
	hw := h * w
	if hw%16 != 0 {
		return false, nil
	}
	if g.InC == inC && g.OutC == outC && g.H == h && g.W == w {
		return true, nil
	}
	g.InC, g.OutC, g.H, g.W = inC, outC, h, w
	nb := (outC + maxDW - 1) / maxDW
	g.blocks = g.blocks[:0]
	o0 := 0
	for b := 0; b < nb; b++ {
		mr := outC / nb
		if b < outC%nb {
			mr++
		}
		g.blocks = append(g.blocks, tile{o0: o0, mr: mr})
		o0 += mr
	}
	g.masks = g.masks[:0]
	for p := 0; p < hw; p += 16 {
		var left, right uint16
		for l := 0; l < 16; l++ {
			x := (p + l) % w
			if x != 0 {
				left |= 1 << l
			}
			if x != w-1 {
				right |= 1 << l
			}
		}
		g.masks = append(g.masks, left, right)
	}
	g.gap = (w + 1 + 15) / 16 * 16
	g.plane = hw + g.gap
	g.chunk = max(1, chunkPixels/hw)
	g.buf = nil // the margins of a new layout must be zeroed
	return true, nil
}

// Add adds to dw ([OutC][InC][3][3]) the gradient over the n images x
// ([n][InC][H][W]) with output gradients dout ([n][OutC][H][W]). Every
// weight sums its terms in one order (lanes, then chunks of images, in
// turn), whatever the number of threads.
func (g *WeightGrad) Add(x, dout []float32, n int, dw []float32) {
	hw := g.H * g.W
	if len(x) < n*g.InC*hw || len(dout) < n*g.OutC*hw || len(dw) < g.OutC*g.InC*9 {
		panic(fmt.Sprintf("direct: weight gradient of %d -> %d channels of %dx%d for %d images: slices of %d, %d, %d",
			g.InC, g.OutC, g.H, g.W, n, len(x), len(dout), len(dw)))
	}
	if !Available() {
		panic("direct: kernels not available (see Available)")
	}
	need := g.gap + g.chunk*g.InC*g.plane + 64
	if len(g.buf) < need {
		g.buf = make([]float32, need)
	}
	for i0 := 0; i0 < n; i0 += g.chunk {
		g.cur = wgCall{x: x, dout: dout, dw: dw, i0: i0, nimg: min(g.chunk, n-i0)}
		parallel.Do(g.cur.nimg*g.InC, 1, g)
		g.cur.phase = 1
		parallel.Do(len(g.blocks)*g.InC, 1, g)
	}
}

// Run implements parallel.Task for the two phases of a chunk: padding
// planes [lo, hi) of its images, then the sums of (block, channel) pairs
// [lo, hi).
func (g *WeightGrad) Run(lo, hi int) {
	c := &g.cur
	hw := g.H * g.W
	if c.phase == 0 {
		for q := lo; q < hi; q++ { // q = image in chunk * InC + channel
			copy(g.buf[g.gap+q*g.plane:g.gap+q*g.plane+hw], c.x[(c.i0*g.InC+q)*hw:(c.i0*g.InC+q+1)*hw])
		}
		return
	}
	var lanes [maxDW * 9 * 16]float32
	k9 := g.InC * 9
	for q := lo; q < hi; q++ {
		b, ch := g.blocks[q/g.InC], q%g.InC
		dw3(b.mr, &g.buf[g.gap+ch*g.plane-g.W-1], &c.dout[(c.i0*g.OutC+b.o0)*hw], c.nimg, g.InC*g.plane,
			g.OutC*hw, hw/16, g.W, hw, &g.masks[0], &lanes)
		for r := 0; r < b.mr; r++ {
			for t := 0; t < 9; t++ {
				var s float32
				for _, v := range lanes[(r*9+t)*16 : (r*9+t+1)*16] {
					s += v
				}
				c.dw[(b.o0+r)*k9+ch*9+t] += s
			}
		}
	}
}
