/* SPDX-License-Identifier: MIT */
/*
 * html.c - the report page (html.h): one HTML5 file that needs nothing but
 * itself (no network, so it opens from a file, offline, in any browser).
 *
 * On top, a slider over the snapshots with the current one's step and
 * label, and the fragmentation plot of the whole timeline (svg_frag) with a
 * marker at the current step. Below, one panel per snapshot: the buddy
 * picture of each zone, the slab picture, and the /proc/buddyinfo and
 * /proc/slabinfo texts. Every panel is in the page; the script only shows
 * one and hides the others, so the page without script still shows the
 * last snapshot (it is the only panel not hidden). "#N" in the address
 * opens snapshot N, which lets a test check the script in a headless
 * browser.
 */
#include <string.h>

#include "html.h"
#include "tool.h"
#include "svg.h"

static const char style[] =
    "body{font-family:'DejaVu Sans',Arial,sans-serif;margin:16px 24px;color:#222;"
    "background:#fafafa}\n"
    "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:18px 0 8px}"
    "h3{font-size:13px;margin:8px 0 4px;color:#555}\n"
    ".kmem-controls{position:sticky;top:0;background:#fafafa;padding:8px 0;z-index:1;"
    "display:flex;align-items:center;gap:10px;border-bottom:1px solid #ddd}\n"
    ".kmem-controls input{flex:1;max-width:640px}\n"
    "#kmem-step{font-weight:bold;white-space:nowrap}#kmem-label{color:#444}\n"
    "svg{max-width:100%;height:auto;display:block;background:#fff;border:1px solid #ddd;"
    "margin:6px 0}\n"
    ".kmem-texts{display:flex;flex-wrap:wrap;gap:16px}\n"
    "pre{background:#fff;border:1px solid #ddd;padding:8px;font-size:11px;overflow:auto;"
    "max-height:320px;margin:0}\n"
    ".kmem-note{color:#666;font-size:13px}\n";

/* Shows one panel, moves the marker of the plot, follows the slider. */
static const char script[] =
    "(function(){\n"
    "var panels=document.querySelectorAll('section.kmem-snapshot');\n"
    "var slider=document.getElementById('kmem-slider');\n"
    "var stepOut=document.getElementById('kmem-step'),"
    "labelOut=document.getElementById('kmem-label');\n"
    "var plot=document.querySelector('svg.kmem-frag');\n"
    "var marker=plot&&plot.querySelector('.kmem-frag-marker');\n"
    "function num(e,a){return parseFloat(e.getAttribute(a));}\n"
    "function show(i){\n"
    " i=Math.max(0,Math.min(panels.length-1,i|0));\n"
    " for(var k=0;k<panels.length;k++)panels[k].hidden=k!==i;\n"
    " var p=panels[i],step=num(p,'data-step');\n"
    " slider.value=i;\n"
    " stepOut.textContent='step '+p.getAttribute('data-step')+' ('+(i+1)+' of "
    "'+panels.length+')';\n"
    " labelOut.textContent=p.getAttribute('data-label');\n"
    " if(marker){\n"
    "  var x0=num(plot,'data-x0'),x1=num(plot,'data-x1'),s0=num(plot,'data-step0'),"
    "s1=num(plot,'data-step1');\n"
    "  var x=s1>s0?x0+(step-s0)/(s1-s0)*(x1-x0):(x0+x1)/2;\n"
    "  marker.setAttribute('x1',x);marker.setAttribute('x2',x);\n"
    "  marker.setAttribute('visibility','visible');\n"
    " }\n"
    "}\n"
    "function go(i){show(i);try{history.replaceState(null,'','#'+slider.value);}catch(e){}}\n"
    "slider.addEventListener('input',function(){go(+slider.value);});\n"
    "document.getElementById('kmem-prev').onclick=function(){go(+slider.value-1);};\n"
    "document.getElementById('kmem-next').onclick=function(){go(+slider.value+1);};\n"
    "var h=parseInt(location.hash.slice(1),10);\n"
    "show(isNaN(h)?panels.length-1:h);\n"
    "})();\n";

static void page_head(FILE *f, const char *title)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
          f);
    tool_xml_text(f, title);
    fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>", style);
    tool_xml_text(f, title);
    fputs("</h1>\n", f);
}

static void controls(FILE *f, const struct timeline *t)
{
    const struct snapshot *last = t->snaps[t->n - 1];
    fprintf(f,
            "<div class=\"kmem-controls\">\n<button id=\"kmem-prev\" type=\"button\" "
            "title=\"previous snapshot\">&#9664;</button>\n"
            "<input type=\"range\" id=\"kmem-slider\" min=\"0\" max=\"%lu\" value=\"%lu\" "
            "step=\"1\" aria-label=\"snapshot\">\n"
            "<button id=\"kmem-next\" type=\"button\" title=\"next snapshot\">&#9654;</button>\n"
            "<span id=\"kmem-step\">step %lu (%lu of %lu)</span>\n<span id=\"kmem-label\">",
            t->n - 1, t->n - 1, last->step, t->n, t->n);
    tool_xml_text(f, last->label);
    fputs("</span>\n</div>\n", f);
}

static void pre_block(FILE *f, const char *heading, const char *text)
{
    fprintf(f, "<div><h3>%s</h3><pre>", heading);
    tool_xml_text(f, text ? text : "");
    fputs("</pre></div>\n", f);
}

/* One snapshot: its pictures and its texts. Hidden unless it is the last. */
static int panel(FILE *f, const struct snapshot *s, unsigned long i, bool last)
{
    fprintf(f,
            "<section class=\"kmem-snapshot\" id=\"kmem-snap-%lu\" data-step=\"%lu\" data-label=\"",
            i, s->step);
    tool_xml_text(f, s->label);
    fprintf(f, "\"%s>\n<h2>Snapshot %lu, step %lu: ", last ? "" : " hidden", i + 1, s->step);
    tool_xml_text(f, s->label[0] ? s->label : "(no label)");
    fputs("</h2>\n", f);
    int rc = 0;
    for (int z = 0; z < KMEM_NR_ZONES && rc == 0; z++)
        if (s->zones[z].present)
            rc = svg_buddy(f, s, (enum kmem_zone_type)z, false);
    if (rc == 0)
        rc = svg_slabs(f, s, NULL, false);
    fputs("<div class=\"kmem-texts\">\n", f);
    pre_block(f, "/proc/buddyinfo", s->buddyinfo);
    pre_block(f, "/proc/slabinfo", s->slabinfo);
    fputs("</div>\n</section>\n", f);
    return rc;
}

int html_report(FILE *f, const struct timeline *t, const char *title)
{
    page_head(f, title && *title ? title : "kmem report");
    if (t->n == 0) {
        fputs("<p class=\"kmem-note\">No snapshots.</p>\n</body>\n</html>\n", f);
        return ferror(f) ? -1 : 0;
    }
    controls(f, t);
    fprintf(f,
            "<p class=\"kmem-note\">%lu snapshot%s. Move the slider (or use the arrow keys on "
            "it) to see each; hover over a block for its frames and state.</p>\n",
            t->n, t->n == 1 ? "" : "s");
    int rc = svg_frag(f, t, false);
    fputs("<div id=\"kmem-panels\">\n", f);
    for (unsigned long i = 0; i < t->n && rc == 0; i++)
        rc = panel(f, t->snaps[i], i, i + 1 == t->n);
    fprintf(f, "</div>\n<script>\n%s</script>\n</body>\n</html>\n", script);
    return rc == 0 && !ferror(f) ? 0 : -1;
}
