/* smp4: the smp guest with four vCPUs (boot it with dom0_max_vcpus=4). */
#define SMP_VCPUS 4
#define SMP_NAME "smp4"
#include "smp.c"
