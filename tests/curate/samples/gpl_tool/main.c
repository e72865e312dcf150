/* rle: run-length encode standard input to standard output. */
#include <stdio.h>
#include <stdlib.h>

/* Write one run as "<count><byte>"; counts above 255 are split. */
static void emit(int count, int byte, FILE *out) {
    while (count > 255) {
        fputc(255, out);
        fputc(byte, out);
        count -= 255;
    }
    fputc(count, out);
    fputc(byte, out);
}

int main(void) {
    int previous = getchar();
    int count = 1;
    int current;
    if (previous == EOF) {
        return EXIT_SUCCESS;
    }
    while ((current = getchar()) != EOF) {
        if (current == previous) {
            count++;
        } else {
            emit(count, previous, stdout);
            previous = current;
            count = 1;
        }
    }
    emit(count, previous, stdout);
    return EXIT_SUCCESS;
}
