#!/usr/bin/env python3
"""Checks a screenshot of strata-report's HTML page (tests/report/html.sh).

The heatmap's plot area has a fixed place on the page (src/tools/report/html.cc:
#top is 118 px high, the canvas starts 30 px below it at x=10, with a 180 px
label gutter, and the plot is 980 x 600 px). In the recorded profile that area
must show many pixels of the hot colour (red) and of the cold colour (blue),
more hot ones after the phase change (right) than before it (left), and
the title lines above it must show neither (the heat legend lies below them).

Decodes PNG with zlib from the standard library (8-bit RGB/RGBA, no interlace).
Usage: check_png.py SCREENSHOT.png
"""
import struct
import sys
import zlib

PLOT = (190, 148, 1170, 748)  # x0, y0, x1, y1 of the heatmap plot on the page
INSET = 8
TITLE_HEIGHT = 60  # title and first lines of #top, above the heat legend


def decode(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit(f"{path}: not a PNG file")
    pos, idat, width = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or color not in (2, 6) or interlace:
                sys.exit(f"{path}: unsupported PNG (depth {depth}, colour type {color}, interlace {interlace})")
            bpp = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(height):
        ftype, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if ftype == 1:
                line[x] = (line[x] + a) & 255
            elif ftype == 2:
                line[x] = (line[x] + b) & 255
            elif ftype == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pred) & 255
        rows.append(line)
        prev = line
    return width, height, bpp, rows


def is_hot(r, g, b):
    return r >= 150 and g <= 90 and b <= 90


def is_cold(r, g, b):
    return b >= 120 and r <= 100 and g <= 130


def count(rows, bpp, x0, y0, x1, y1):
    hot = cold = total = 0
    for y in range(y0, y1):
        line = rows[y]
        for x in range(x0, x1):
            r, g, b = line[bpp * x], line[bpp * x + 1], line[bpp * x + 2]
            hot += is_hot(r, g, b)
            cold += is_cold(r, g, b)
            total += 1
    return hot, cold, total


def main():
    width, height, bpp, rows = decode(sys.argv[1])
    x0, y0, x1, y1 = PLOT
    if width < x1 or height < y1:
        sys.exit(f"screenshot is {width}x{height}, smaller than the heatmap area")
    x0, y0, x1, y1 = x0 + INSET, y0 + INSET, x1 - INSET, y1 - INSET
    hot, cold, total = count(rows, bpp, x0, y0, x1, y1)
    quarter = (x1 - x0) // 4
    hot_l, _, tot_l = count(rows, bpp, x0, y0, x0 + quarter, y1)
    hot_r, _, tot_r = count(rows, bpp, x1 - quarter, y0, x1, y1)
    hot_top, cold_top, _ = count(rows, bpp, 0, 0, width, TITLE_HEIGHT)
    print(f"heatmap {x1 - x0}x{y1 - y0} px: hot {100 * hot / total:.1f}%, cold {100 * cold / total:.1f}%; "
          f"hot left quarter {100 * hot_l / tot_l:.1f}%, right quarter {100 * hot_r / tot_r:.1f}%; "
          f"title hot/cold pixels {hot_top}/{cold_top}")
    problems = []
    if hot < 0.05 * total:
        problems.append("fewer than 5% hot (red) pixels in the heatmap")
    if cold < 0.20 * total:
        problems.append("fewer than 20% cold (blue) pixels in the heatmap")
    if hot_r < hot_l + 0.05 * tot_r:
        problems.append("no phase change: the right quarter is not hotter than the left")
    if hot_top + cold_top > 0.001 * width * TITLE_HEIGHT:
        problems.append("heat colours in the title lines: the layout moved")
    if problems:
        sys.exit("FAIL: " + "; ".join(problems))
    print("ok: the heatmap rendered with hot and cold chunks and the phase change")


main()
