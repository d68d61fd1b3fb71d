package dev.jepd.engine.sampling;

import java.util.Arrays;

/**
 * Partial selection over a row of logits without sorting the whole vocabulary: a bounded min-heap keeps
 * the {@code k} best in one pass (O(V log k), and near O(V) since most values lose against the heap's root).
 * Order: larger value first, and on equal values the lower index first (so ties resolve like a stable
 * descending sort).
 */
final class TopK {
    private TopK() {}

    /**
     * The indices of the {@code k} largest values that are {@code >= floor}, largest first; fewer when fewer
     * qualify. NaN never qualifies.
     */
    static int[] indices(float[] values, int k, float floor) {
        if (k <= 0) {
            return new int[0];
        }
        int[] heap = new int[k]; // heap[0] is the worst kept element
        int size = 0;
        for (int i = 0; i < values.length; i++) {
            float v = values[i];
            if (!(v >= floor)) {
                continue;
            }
            if (size < k) {
                heap[size] = i;
                siftUp(heap, size, values);
                size++;
            } else if (v > values[heap[0]]) {
                // Scanning upwards, an equal value has a higher index than everything kept: it is worse.
                heap[0] = i;
                siftDown(heap, size, values);
            }
        }
        int[] out = Arrays.copyOf(heap, size);
        sortDescending(out, size, values);
        return out;
    }

    /** The smallest of the {@code k} largest values {@code >= floor}, or {@code floor} when fewer qualify. */
    static float kthLargest(float[] values, int k, float floor) {
        int[] top = indices(values, k, floor);
        return top.length < k ? floor : values[top[k - 1]];
    }

    /** Sorts {@code idx[0..n)} by value, largest first, ties by index. */
    static void sortDescending(int[] idx, int n, float[] values) {
        long[] keys = new long[n];
        for (int j = 0; j < n; j++) {
            // ~orderable(v) ascending is v descending; the index in the low half breaks ties upwards.
            keys[j] = ((long) ~orderable(values[idx[j]]) << 32) | (idx[j] & 0xFFFFFFFFL);
        }
        Arrays.sort(keys);
        for (int j = 0; j < n; j++) {
            idx[j] = (int) keys[j];
        }
    }

    /** An int whose signed order is the float order (for non-NaN values). */
    private static int orderable(float v) {
        int bits = Float.floatToIntBits(v);
        return bits >= 0 ? bits : bits ^ 0x7FFFFFFF;
    }

    // Worse = smaller value, or equal value with the larger index.
    private static boolean worse(int a, int b, float[] values) {
        float va = values[a];
        float vb = values[b];
        return va < vb || (va == vb && a > b);
    }

    private static void siftUp(int[] heap, int pos, float[] values) {
        int x = heap[pos];
        while (pos > 0) {
            int parent = (pos - 1) >>> 1;
            if (!worse(x, heap[parent], values)) {
                break;
            }
            heap[pos] = heap[parent];
            pos = parent;
        }
        heap[pos] = x;
    }

    private static void siftDown(int[] heap, int size, float[] values) {
        int x = heap[0];
        int pos = 0;
        while (true) {
            int child = 2 * pos + 1;
            if (child >= size) {
                break;
            }
            if (child + 1 < size && worse(heap[child + 1], heap[child], values)) {
                child++;
            }
            if (!worse(heap[child], x, values)) {
                break;
            }
            heap[pos] = heap[child];
            pos = child;
        }
        heap[pos] = x;
    }
}
