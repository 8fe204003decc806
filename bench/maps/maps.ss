;; maps: 100,000 inserts into a hash table (Chez's eqv hashtable: Chez 9.5 has no persistent
;; map), then 100,000 hits and 100,000 misses, repeated r times. Written by hand: the map
;; operations differ per Scheme.
(import (chezscheme))
(define (key-of i) (modulo (* i 7919) 1000003))
(define (build n)
  (let ((m (make-eqv-hashtable)))
    (let loop ((i 0))
      (if (= i n) m (begin (hashtable-set! m (key-of i) i) (loop (+ i 1)))))))
(define (lookups m n)
  (let loop ((i 0) (acc 0))
    (if (= i n)
        acc
        (loop (+ i 1)
              (+ acc
                 (hashtable-ref m (key-of (modulo (* i 31) n)) #f)
                 (if (hashtable-ref m (+ (key-of i) 1000003) #f) 0 1))))))
(define (once n)
  (let ((m (build n)))
    (+ (hashtable-size m) (lookups m n))))
(define n 100000)
(define r (let ((v (command-line-arguments))) (if (pair? v) (string->number (car v)) 40)))
(let loop ((k 0) (t 0))
  (if (= k r)
      (begin (display "maps ") (display n) (display " ") (display r) (display " ") (display t)
             (newline))
      (loop (+ k 1) (+ t (once n)))))
