/*
 * A stand-in for Windows' bcryptprimitives.dll, for Wine 8.0 only.
 *
 * Go 1.22 and later call ProcessPrng from bcryptprimitives.dll at start-up;
 * Wine 8.0 has no such DLL, so every Go binary dies before main. This DLL
 * exports ProcessPrng and fills the buffer from RtlGenRandom (exported by
 * advapi32 as SystemFunction036), which Wine has. It is copied into the Wine
 * prefix's system32 by .ci/wine-setup.sh and is never shipped.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T size)
{
	while (size > 0) {
		ULONG n = size > 0x10000000 ? 0x10000000 : (ULONG)size;
		if (!SystemFunction036(data, n))
			return FALSE;
		data += n;
		size -= n;
	}
	return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE inst, DWORD reason, LPVOID reserved)
{
	(void)inst;
	(void)reason;
	(void)reserved;
	return TRUE;
}
