#lang racket/base
;; fanin: 1,000 Racket threads each put 1,000 values on one synchronous (rendezvous) channel;
;; the main thread receives all 10^6 and sums them.
(define (run tasks m)
  (define ch (make-channel))
  (for ([i (in-range tasks)])
    (thread (lambda ()
              (for ([k (in-range m)])
                (channel-put ch (+ (* i m) k))))))
  (for/fold ([s 0]) ([n (in-range (* tasks m))])
    (+ s (channel-get ch))))
(define args (current-command-line-arguments))
(define tasks (if (> (vector-length args) 0) (string->number (vector-ref args 0)) 1000))
(define m (if (> (vector-length args) 1) (string->number (vector-ref args 1)) 1000))
(display "fanin ") (display tasks) (display " ") (display m) (display " ")
(display (run tasks m)) (newline)
