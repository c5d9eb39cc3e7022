#include "textflag.h"

// entry32 is the ELF entry (-ldflags '-E main.entry32'). It only jumps to the
// runtime's Linux entry, which keeps the runtime reachable for the linker and
// lets the binary run on a Linux host.
TEXT ·entry32(SB),NOSPLIT|NOFRAME,$0
	JMP	_rt0_amd64_linux(SB)
