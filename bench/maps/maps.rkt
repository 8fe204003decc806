#lang racket/base
;; maps: 100,000 inserts into an immutable hash (hasheqv), then 100,000 hits and 100,000 misses,
;; repeated r times. Written by hand: the map operations differ per Scheme.
(define (key-of i) (modulo (* i 7919) 1000003))
(define (build n)
  (let loop ((i 0) (m (hasheqv)))
    (if (= i n) m (loop (+ i 1) (hash-set m (key-of i) i)))))
(define (lookups m n)
  (let loop ((i 0) (acc 0))
    (if (= i n)
        acc
        (loop (+ i 1)
              (+ acc
                 (hash-ref m (key-of (modulo (* i 31) n)))
                 (if (hash-ref m (+ (key-of i) 1000003) #f) 0 1))))))
(define (once n)
  (let ((m (build n)))
    (+ (hash-count m) (lookups m n))))
(define n 100000)
(define r (let ((v (current-command-line-arguments)))
            (if (> (vector-length v) 0) (string->number (vector-ref v 0)) 40)))
(let loop ((k 0) (t 0))
  (if (= k r)
      (begin (display "maps ") (display n) (display " ") (display r) (display " ") (display t)
             (newline))
      (loop (+ k 1) (+ t (once n)))))
