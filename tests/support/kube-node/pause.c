/* The pod sandbox's process, as Kubernetes' own pause: holds the pod's namespaces open, reaps
 * zombies (it is PID 1 of the pod's PID namespace when that is shared) and exits on SIGINT or
 * SIGTERM. Built statically into the local sandbox image by build-images.sh, because
 * registry.k8s.io/pause cannot be pulled here. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_term(int sig) { (void)sig; _exit(0); }

static void on_child(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(void) {
  struct sigaction term = {.sa_handler = on_term};
  struct sigaction child = {.sa_handler = on_child, .sa_flags = SA_NOCLDSTOP};
  sigaction(SIGINT, &term, NULL);
  sigaction(SIGTERM, &term, NULL);
  sigaction(SIGCHLD, &child, NULL);
  for (;;) pause();
  return 0;
}
