/*
 * forkexec: the dom0 bench task's fork+exec+exit loop, a small static C
 * program because a Go program cannot fork safely (only the forking thread
 * survives in the child, and the Go runtime must not run there).
 * cmd/mkinitramfs compiles it (gcc -static) into the dom0 initramfs as
 * /usr/libexec/forkexec; cmd/dom0init runs it.
 *
 * Usage: forkexec N PATH
 *
 * N times: fork(2) (a full copy of this process's address space, no
 * CLONE_VM), execve(2) of PATH in the child with argv {PATH} and an empty
 * environment, waitpid(2) in the parent for its exit. Each round builds two
 * address spaces (the fork's copy and the exec's new one) and tears both
 * down; on a Xen PV dom0 each is page-table pinning and unpinning in the
 * hypervisor. It prints the mean time of one round in microseconds
 * (CLOCK_MONOTONIC around the whole loop) as "<us> us/op" and exits 0, or
 * prints what went wrong on stderr and exits 1.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: forkexec N PATH\n");
		return 2;
	}
	char *end;
	long n = strtol(argv[1], &end, 10);
	if (*end != '\0' || n <= 0) {
		fprintf(stderr, "forkexec: bad count %s\n", argv[1]);
		return 2;
	}
	char *path = argv[2];
	char *child_argv[] = { path, NULL };
	char *child_envp[] = { NULL };
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			fprintf(stderr, "forkexec: fork: %s\n", strerror(errno));
			return 1;
		}
		if (pid == 0) {
			execve(path, child_argv, child_envp);
			_exit(127); /* the parent reports the status */
		}
		int status;
		if (waitpid(pid, &status, 0) != pid) {
			fprintf(stderr, "forkexec: waitpid: %s\n", strerror(errno));
			return 1;
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "forkexec: %s: wait status %#x (round %ld)\n", path, (unsigned)status, i + 1);
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double us = (double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3;
	printf("%.1f us/op\n", us / (double)n);
	return 0;
}
