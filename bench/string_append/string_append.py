# grow a string by appending the one-digit string of i mod 10, N times, then index it; repeated R times
import sys
def once(n):
    s = ""
    for i in range(n):
        s = s + str(i % 10)
    return len(s) + ord(s[len(s) // 2]) + ord(s[len(s) - 1])
N = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
R = int(sys.argv[2]) if len(sys.argv) > 2 else 3
t = 0
for _ in range(R):
    t += once(N)
print("string_append", N, R, t)
