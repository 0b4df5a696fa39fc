//go:build amd64 && !purego

#include "textflag.h"

// AVX2 twins of generic.go: 8 floats per step, then a scalar tail with the
// same operations. Callers guarantee n >= 8.

// func scaleShiftAsm(dst, x *float32, n int, s, b float32)
TEXT ·scaleShiftAsm(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS s+24(FP), Y4
	VBROADCASTSS b+28(FP), Y5
ssLoop:
	CMPQ CX, $8
	JLT  ssTail
	VMOVUPS (SI), Y0
	VMULPS  Y4, Y0, Y0
	VADDPS  Y5, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     ssLoop
ssTail:
	TESTQ CX, CX
	JEQ   ssDone
	VMOVSS (SI), X0
	VMULSS X4, X0, X0
	VADDSS X5, X0, X0
	VMOVSS X0, (DI)
	ADDQ   $4, SI
	ADDQ   $4, DI
	DECQ   CX
	JMP    ssTail
ssDone:
	VZEROUPPER
	RET

// func scaleShiftReLUAsm(dst, z, x *float32, n int, s, b float32)
TEXT ·scaleShiftReLUAsm(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ z+8(FP), DX
	MOVQ x+16(FP), SI
	MOVQ n+24(FP), CX
	VBROADCASTSS s+32(FP), Y4
	VBROADCASTSS b+36(FP), Y5
	VXORPS Y6, Y6, Y6
	VPCMPEQD Y7, Y7, Y7
	VPSRLD   $1, Y7, Y7 // 0x7fffffff
srLoop:
	CMPQ CX, $8
	JLT  srTail
	VMOVUPS   (SI), Y0
	VMULPS    Y4, Y0, Y0
	VADDPS    Y5, Y0, Y0
	VMOVUPS   Y0, (DI)
	VMAXPS    Y6, Y0, Y1     // y > 0 ? y : 0
	VCMPPS    $3, Y0, Y0, Y2 // NaN lanes
	VANDPS    Y7, Y0, Y3     // NaN with its sign cleared, as Go's max gives
	VBLENDVPS Y2, Y3, Y1, Y1
	VMOVUPS   Y1, (DX)
	ADDQ      $32, SI
	ADDQ      $32, DI
	ADDQ      $32, DX
	SUBQ      $8, CX
	JMP       srLoop
srTail:
	TESTQ CX, CX
	JEQ   srDone
	VMOVSS    (SI), X0
	VMULSS    X4, X0, X0
	VADDSS    X5, X0, X0
	VMOVSS    X0, (DI)
	VMAXSS    X6, X0, X1
	VCMPPS    $3, X0, X0, X2
	VANDPS    X7, X0, X3
	VBLENDVPS X2, X3, X1, X1
	VMOVSS    X1, (DX)
	ADDQ      $4, SI
	ADDQ      $4, DI
	ADDQ      $4, DX
	DECQ      CX
	JMP       srTail
srDone:
	VZEROUPPER
	RET

// func reluAsm(dst, x *float32, n int)
TEXT ·reluAsm(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VXORPS Y6, Y6, Y6
	VPCMPEQD Y7, Y7, Y7
	VPSRLD   $1, Y7, Y7 // 0x7fffffff
rLoop:
	CMPQ CX, $8
	JLT  rTail
	VMOVUPS   (SI), Y0
	VMAXPS    Y6, Y0, Y1
	VCMPPS    $3, Y0, Y0, Y2
	VANDPS    Y7, Y0, Y3
	VBLENDVPS Y2, Y3, Y1, Y1
	VMOVUPS   Y1, (DI)
	ADDQ      $32, SI
	ADDQ      $32, DI
	SUBQ      $8, CX
	JMP       rLoop
rTail:
	TESTQ CX, CX
	JEQ   rDone
	VMOVSS    (SI), X0
	VMAXSS    X6, X0, X1
	VCMPPS    $3, X0, X0, X2
	VANDPS    X7, X0, X3
	VBLENDVPS X2, X3, X1, X1
	VMOVSS    X1, (DI)
	ADDQ      $4, SI
	ADDQ      $4, DI
	DECQ      CX
	JMP       rTail
rDone:
	VZEROUPPER
	RET

// func reluGradAsm(dx, y, grad *float32, n int)
TEXT ·reluGradAsm(SB), NOSPLIT, $0-32
	MOVQ dx+0(FP), DI
	MOVQ y+8(FP), SI
	MOVQ grad+16(FP), DX
	MOVQ n+24(FP), CX
	VPXOR Y6, Y6, Y6
rgLoop:
	CMPQ CX, $8
	JLT  rgTail
	VMOVDQU (SI), Y0
	VPSUBD  Y0, Y6, Y0 // -bits(y)
	VPSRAD  $31, Y0, Y0
	VPAND   (DX), Y0, Y0
	VADDPS  (DI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	ADDQ    $32, DX
	SUBQ    $8, CX
	JMP     rgLoop
rgTail:
	TESTQ CX, CX
	JEQ   rgDone
	VMOVSS (SI), X0
	VPSUBD X0, X6, X0
	VPSRAD $31, X0, X0
	VMOVSS (DX), X1
	VPAND  X1, X0, X0
	VMOVSS (DI), X1
	VADDSS X0, X1, X1
	VMOVSS X1, (DI)
	ADDQ   $4, SI
	ADDQ   $4, DI
	ADDQ   $4, DX
	DECQ   CX
	JMP    rgTail
rgDone:
	VZEROUPPER
	RET

// func addAsm(dst, a, b *float32, n int)
TEXT ·addAsm(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
aLoop:
	CMPQ CX, $8
	JLT  aTail
	VMOVUPS (SI), Y0
	VADDPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	ADDQ    $32, DX
	SUBQ    $8, CX
	JMP     aLoop
aTail:
	TESTQ CX, CX
	JEQ   aDone
	VMOVSS (SI), X0
	VMOVSS (DX), X1
	VADDSS X1, X0, X0
	VMOVSS X0, (DI)
	ADDQ   $4, SI
	ADDQ   $4, DI
	ADDQ   $4, DX
	DECQ   CX
	JMP    aTail
aDone:
	VZEROUPPER
	RET

// func addReLUAsm(dst, z, a, b *float32, n int)
TEXT ·addReLUAsm(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ z+8(FP), BX
	MOVQ a+16(FP), SI
	MOVQ b+24(FP), DX
	MOVQ n+32(FP), CX
	VXORPS Y6, Y6, Y6
	VPCMPEQD Y7, Y7, Y7
	VPSRLD   $1, Y7, Y7 // 0x7fffffff
arLoop:
	CMPQ CX, $8
	JLT  arTail
	VMOVUPS   (SI), Y0
	VADDPS    (DX), Y0, Y0
	VMOVUPS   Y0, (DI)
	VMAXPS    Y6, Y0, Y1
	VCMPPS    $3, Y0, Y0, Y2
	VANDPS    Y7, Y0, Y3
	VBLENDVPS Y2, Y3, Y1, Y1
	VMOVUPS   Y1, (BX)
	ADDQ      $32, SI
	ADDQ      $32, DI
	ADDQ      $32, DX
	ADDQ      $32, BX
	SUBQ      $8, CX
	JMP       arLoop
arTail:
	TESTQ CX, CX
	JEQ   arDone
	VMOVSS    (SI), X0
	VMOVSS    (DX), X1
	VADDSS    X1, X0, X0
	VMOVSS    X0, (DI)
	VMAXSS    X6, X0, X1
	VCMPPS    $3, X0, X0, X2
	VANDPS    X7, X0, X3
	VBLENDVPS X2, X3, X1, X1
	VMOVSS    X1, (BX)
	ADDQ      $4, SI
	ADDQ      $4, DI
	ADDQ      $4, DX
	ADDQ      $4, BX
	DECQ      CX
	JMP       arTail
arDone:
	VZEROUPPER
	RET

// COMBINE folds lane sums lo (lanes 0-3) and hi (lanes 4-7) into the low
// double of lo: ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)), as lanes8 does.
#define COMBINE(lo, hi, xlo, xhi) \
	VADDPD      hi, lo, lo \
	VEXTRACTF128 $1, lo, xhi \
	VADDPD      xhi, xlo, xlo \
	VUNPCKHPD   xlo, xlo, xhi \
	VADDSD      xhi, xlo, xlo

// func sum64Asm(x *float32, n int) float64
TEXT ·sum64Asm(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VXORPD Y8, Y8, Y8
	VXORPD Y9, Y9, Y9
s64Loop:
	CMPQ CX, $8
	JLT  s64Fold
	VMOVUPS      (SI), Y0
	VCVTPS2PD    X0, Y1
	VEXTRACTF128 $1, Y0, X2
	VCVTPS2PD    X2, Y2
	VADDPD       Y1, Y8, Y8
	VADDPD       Y2, Y9, Y9
	ADDQ         $32, SI
	SUBQ         $8, CX
	JMP          s64Loop
s64Fold:
	COMBINE(Y8, Y9, X8, X9)
s64Tail:
	TESTQ CX, CX
	JEQ   s64Done
	VCVTSS2SD (SI), X1, X1
	VADDSD    X1, X8, X8
	ADDQ      $4, SI
	DECQ      CX
	JMP       s64Tail
s64Done:
	VMOVSD X8, ret+16(FP)
	VZEROUPPER
	RET

// func sumSqDev64Asm(x *float32, n int, mean float64) float64
TEXT ·sumSqDev64Asm(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSD mean+16(FP), Y7
	VXORPD Y8, Y8, Y8
	VXORPD Y9, Y9, Y9
sqLoop:
	CMPQ CX, $8
	JLT  sqFold
	VMOVUPS      (SI), Y0
	VCVTPS2PD    X0, Y1
	VEXTRACTF128 $1, Y0, X2
	VCVTPS2PD    X2, Y2
	VSUBPD       Y7, Y1, Y1
	VSUBPD       Y7, Y2, Y2
	VMULPD       Y1, Y1, Y1
	VMULPD       Y2, Y2, Y2
	VADDPD       Y1, Y8, Y8
	VADDPD       Y2, Y9, Y9
	ADDQ         $32, SI
	SUBQ         $8, CX
	JMP          sqLoop
sqFold:
	COMBINE(Y8, Y9, X8, X9)
sqTail:
	TESTQ CX, CX
	JEQ   sqDone
	VCVTSS2SD (SI), X1, X1
	VSUBSD    X7, X1, X1
	VMULSD    X1, X1, X1
	VADDSD    X1, X8, X8
	ADDQ      $4, SI
	DECQ      CX
	JMP       sqTail
sqDone:
	VMOVSD X8, ret+24(FP)
	VZEROUPPER
	RET

// func sumDyXhat64Asm(z, dz, x *float32, n int, mean, inv float32) (sdy, sdyx float64)
TEXT ·sumDyXhat64Asm(SB), NOSPLIT, $0-56
	MOVQ z+0(FP), BX
	MOVQ dz+8(FP), DX
	MOVQ x+16(FP), SI
	MOVQ n+24(FP), CX
	VBROADCASTSS mean+32(FP), Y13
	VBROADCASTSS inv+36(FP), Y14
	VPXOR  Y12, Y12, Y12
	VXORPD Y8, Y8, Y8
	VXORPD Y9, Y9, Y9
	VXORPD Y10, Y10, Y10
	VXORPD Y11, Y11, Y11
dxLoop:
	CMPQ CX, $8
	JLT  dxFold
	VMOVUPS (DX), Y0
	TESTQ   BX, BX
	JEQ     dxNoMask
	VMOVDQU (BX), Y1
	VPSUBD  Y1, Y12, Y1
	VPSRAD  $31, Y1, Y1
	VPAND   Y1, Y0, Y0
	ADDQ    $32, BX
dxNoMask:
	VMOVUPS      (SI), Y2
	VSUBPS       Y13, Y2, Y2
	VMULPS       Y14, Y2, Y2
	VCVTPS2PD    X0, Y3
	VEXTRACTF128 $1, Y0, X4
	VCVTPS2PD    X4, Y4
	VCVTPS2PD    X2, Y5
	VEXTRACTF128 $1, Y2, X6
	VCVTPS2PD    X6, Y6
	VADDPD       Y3, Y8, Y8
	VADDPD       Y4, Y9, Y9
	VMULPD       Y3, Y5, Y5
	VMULPD       Y4, Y6, Y6
	VADDPD       Y5, Y10, Y10
	VADDPD       Y6, Y11, Y11
	ADDQ         $32, DX
	ADDQ         $32, SI
	SUBQ         $8, CX
	JMP          dxLoop
dxFold:
	COMBINE(Y8, Y9, X8, X9)
	COMBINE(Y10, Y11, X10, X11)
dxTail:
	TESTQ CX, CX
	JEQ   dxDone
	VMOVSS (DX), X0
	TESTQ  BX, BX
	JEQ    dxTailNoMask
	VMOVSS (BX), X1
	VPSUBD X1, X12, X1
	VPSRAD $31, X1, X1
	VPAND  X1, X0, X0
	ADDQ   $4, BX
dxTailNoMask:
	VMOVSS    (SI), X2
	VSUBSS    X13, X2, X2
	VMULSS    X14, X2, X2
	VCVTSS2SD X0, X3, X3
	VCVTSS2SD X2, X5, X5
	VADDSD    X3, X8, X8
	VMULSD    X3, X5, X5
	VADDSD    X5, X10, X10
	ADDQ      $4, DX
	ADDQ      $4, SI
	DECQ      CX
	JMP       dxTail
dxDone:
	VMOVSD X8, sdy+40(FP)
	VMOVSD X10, sdyx+48(FP)
	VZEROUPPER
	RET

// func bnGradAsm(dx, z, dz, x *float32, n int, k *[5]float32)
TEXT ·bnGradAsm(SB), NOSPLIT, $0-48
	MOVQ dx+0(FP), DI
	MOVQ z+8(FP), BX
	MOVQ dz+16(FP), DX
	MOVQ x+24(FP), SI
	MOVQ n+32(FP), CX
	MOVQ k+40(FP), AX
	VBROADCASTSS 0(AX), Y10  // k0
	VBROADCASTSS 4(AX), Y11  // k1
	VBROADCASTSS 8(AX), Y12  // k2
	VBROADCASTSS 12(AX), Y13 // mean
	VBROADCASTSS 16(AX), Y14 // inv
	VPXOR Y15, Y15, Y15
bgLoop:
	CMPQ CX, $8
	JLT  bgTail
	VMOVUPS (DX), Y0
	TESTQ   BX, BX
	JEQ     bgNoMask
	VMOVDQU (BX), Y1
	VPSUBD  Y1, Y15, Y1
	VPSRAD  $31, Y1, Y1
	VPAND   Y1, Y0, Y0
	ADDQ    $32, BX
bgNoMask:
	VMULPS  Y0, Y10, Y1 // k0*dy
	VSUBPS  Y11, Y1, Y1 // - k1
	VMOVUPS (SI), Y2
	VSUBPS  Y13, Y2, Y2 // x - mean
	VMULPS  Y14, Y2, Y2 // * inv
	VMULPS  Y2, Y12, Y2 // k2 * xhat
	VSUBPS  Y2, Y1, Y1
	VADDPS  (DI), Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, DX
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     bgLoop
bgTail:
	TESTQ CX, CX
	JEQ   bgDone
	VMOVSS (DX), X0
	TESTQ  BX, BX
	JEQ    bgTailNoMask
	VMOVSS (BX), X1
	VPSUBD X1, X15, X1
	VPSRAD $31, X1, X1
	VPAND  X1, X0, X0
	ADDQ   $4, BX
bgTailNoMask:
	VMULSS X0, X10, X1
	VSUBSS X11, X1, X1
	VMOVSS (SI), X2
	VSUBSS X13, X2, X2
	VMULSS X14, X2, X2
	VMULSS X2, X12, X2
	VSUBSS X2, X1, X1
	VMOVSS (DI), X3
	VADDSS X1, X3, X3
	VMOVSS X3, (DI)
	ADDQ   $4, DX
	ADDQ   $4, SI
	ADDQ   $4, DI
	DECQ   CX
	JMP    bgTail
bgDone:
	VZEROUPPER
	RET

// func sgdMomentumAsm(w, grad, buf *float32, n int, k *[3]float32)
TEXT ·sgdMomentumAsm(SB), NOSPLIT, $0-40
	MOVQ w+0(FP), DI
	MOVQ grad+8(FP), SI
	MOVQ buf+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ k+32(FP), AX
	VBROADCASTSS 0(AX), Y10 // mu
	VBROADCASTSS 4(AX), Y11 // decay
	VBROADCASTSS 8(AX), Y12 // lr
sgLoop:
	CMPQ CX, $8
	JLT  sgTail
	VMOVUPS (DX), Y0
	VMULPS  Y0, Y10, Y0 // mu*buf
	VADDPS  (SI), Y0, Y0 // + g
	VMOVUPS (DI), Y1
	VMULPS  Y1, Y11, Y2 // decay*w
	VADDPS  Y2, Y0, Y0
	VMOVUPS Y0, (DX)
	VMULPS  Y0, Y12, Y0 // lr*buf
	VSUBPS  Y0, Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	ADDQ    $32, DX
	SUBQ    $8, CX
	JMP     sgLoop
sgTail:
	TESTQ CX, CX
	JEQ   sgDone
	VMOVSS (DX), X0
	VMULSS X0, X10, X0
	VMOVSS (SI), X3
	VADDSS X3, X0, X0
	VMOVSS (DI), X1
	VMULSS X1, X11, X2
	VADDSS X2, X0, X0
	VMOVSS X0, (DX)
	VMULSS X0, X12, X0
	VSUBSS X0, X1, X1
	VMOVSS X1, (DI)
	ADDQ   $4, DI
	ADDQ   $4, SI
	ADDQ   $4, DX
	DECQ   CX
	JMP    sgTail
sgDone:
	VZEROUPPER
	RET
