/*
 * auth.h - the shared secret and the mutual challenge-response handshake
 * of a federation link (doc/federation.md, "Handshake").
 *
 *	dialer                                   listener
 *	HELLO {versions, id_d, host, listen} ->
 *	                     <- CHALLENGE {versions, id_l, host, listen, n_l}
 *	AUTH {n_d, mac_d}                    ->  checks mac_d
 *	                     <- AUTH_OK {mac_l}  (or ERROR SHMQ_EAUTH, close)
 *	checks mac_l
 *
 *	mac_x = HMAC-SHA256(secret, label_x || n_x || n_y || id_x || id_y ||
 *	    version)
 *
 * where x is the prover, y the verifier, n_y is the verifier's fresh nonce
 * (so a proof cannot be replayed) and label_x is "shmq-fed dialer" or
 * "shmq-fed listener" (so a proof cannot be reflected back to its maker).
 * Proofs are compared in constant time (CRYPTO_memcmp).  Until the
 * handshake is done, any frame but the one expected next is a protocol
 * error: the link layer closes the connection without reading further.
 *
 * The handshake is a pure state machine over frames (no sockets), so that
 * tests and the fuzz target can run it in memory.
 */
#ifndef FED_AUTH_H
#define FED_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"

#define FED_SECRET_MIN	16		/* bytes */
#define FED_SECRET_MAX	4096

struct fed_secret {
	uint8_t		 key[FED_SECRET_MAX];
	size_t		 len;
};

/*
 * Read the secret from PATH: a regular file that the group and others
 * cannot read or write (else SHMQ_EACCES: "chmod 600"), FED_SECRET_MIN to
 * FED_SECRET_MAX bytes once trailing white space is cut (else
 * SHMQ_EINVAL).  Returns 0, or a code with a message in ERR.
 */
int fed_secret_load(struct fed_secret *s, const char *path, char *err,
    size_t errlen);

/*
 * Open PATH for reading if it is a regular file that the group and others
 * cannot read or write (checked on the open file).  An fd, or a code with
 * a message in ERR that starts with WHAT and PATH: SHMQ_ENOENT, SHMQ_EACCES
 * (the mode: "chmod 600"), SHMQ_EINVAL (not a regular file).
 */
int fed_private_open(const char *path, const char *what, char *err,
    size_t errlen);

/* Fill N with random bytes (getrandom).  0 or -errno. */
int fed_nonce(uint8_t n[FED_NONCE_BYTES]);

/* Handshake steps. */
enum fed_hs_step {
	FED_HS_WAIT_HELLO,	/* listener */
	FED_HS_WAIT_CHALLENGE,	/* dialer */
	FED_HS_WAIT_AUTH,	/* listener */
	FED_HS_WAIT_AUTH_OK,	/* dialer */
	FED_HS_DONE,
	FED_HS_FAILED
};

struct fed_hs {
	bool			 dialer;
	int			 step;		/* enum fed_hs_step */
	const struct fed_secret	*secret;
	struct fed_hello	 me;
	struct fed_hello	 peer;		/* once its HELLO/CHALLENGE came */
	uint8_t			 n_mine[FED_NONCE_BYTES];
	uint8_t			 n_peer[FED_NONCE_BYTES];
	char			 why[160];	/* the failure, for the log */
};

/*
 * Begin a handshake as DIALER or listener, as ME (host id, name, listen
 * address; its nonce is ignored), proving SECRET (borrowed: it must outlive
 * HS).  A dialer's first frame is put in OUT with its type in *TYPE;
 * a listener sends nothing first (*TYPE 0).  Returns 0 or a negative code.
 */
int fed_hs_start(struct fed_hs *hs, bool dialer, const struct fed_hello *me,
    const struct fed_secret *secret, struct fed_wbuf *out, unsigned *type);

/*
 * Take frame F from the peer.  Puts the frame to answer with, if any, in
 * OUT with its type in *TYPE (0: none).  Returns 1 once authenticated
 * (HS->peer says who), 0 to go on, or a negative code with HS->why:
 * SHMQ_EAUTH (wrong proof: *TYPE is then an ERROR to send before closing,
 * on the listener's side), SHMQ_EPROTO (a frame out of turn or malformed),
 * SHMQ_EVERSION (no common version), SHMQ_EINVAL (the peer is this host),
 * or the code of the peer's ERROR frame.  After a failure the handshake
 * accepts nothing more.
 */
int fed_hs_input(struct fed_hs *hs, const struct fed_frame *f,
    struct fed_wbuf *out, unsigned *type);

#endif
