#lang racket/base
;; spawn: 100,000 Racket threads created (each computes 2i into its own box), then each waited for
;; in order.
(define (run n)
  (define boxes (for/list ([i (in-range n)]) (box 0)))
  (define threads
    (for/list ([i (in-range n)] [b (in-list boxes)])
      (thread (lambda () (set-box! b (* 2 i))))))
  (for/fold ([s 0]) ([t (in-list threads)] [b (in-list boxes)])
    (thread-wait t)
    (+ s (unbox b))))
(define args (current-command-line-arguments))
(define n (if (> (vector-length args) 0) (string->number (vector-ref args 0)) 100000))
(display "spawn ") (display n) (display " ") (display (run n)) (newline)
