"""A short sample policy document for the demo, written for this project (a summary, not the regulation)."""

from __future__ import annotations

import html

POLICY_SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Who this applies to",
        (
            "Every district employee, and every Associated Person: parents who lead or serve on school "
            "committees, "
            "volunteers, walk-on coaches, consultants, contractors, vendors, and child-care or after-school "
            "program staff who work with our students.",
        ),
    ),
    (
        "What we ask of you",
        (
            "Keep personal social-media accounts apart from accounts used for school work, and point "
            "students who "
            "want to connect with you to the school's official pages instead.",
            "Treat students, colleagues and families with respect online, on and off the clock. Threats, "
            "harassment, bullying or demeaning posts can lead to discipline and, where the law requires, "
            "a report "
            "to the authorities.",
            "Do not publish anything that identifies a student (a name, a photo or a video) on any school, "
            "personal or professional site unless the student's parent or guardian has given written "
            "consent and "
            "the principal has approved it.",
            "Never share grades, attendance or other confidential student or staff records outside the "
            "district's "
            "approved, secured systems.",
            "Do not use district logos on personal pages. If you mention that you work with the "
            "district, say that "
            "your views are your own.",
        ),
    ),
    (
        "What the district may do",
        (
            "District networks and accounts are not private: the district may review, keep or remove "
            "content and "
            "may limit access when this policy is not followed.",
            "Principals and site administrators share this policy with their staff and Associated "
            "Persons, look "
            "into reported problems, keep a record of serious incidents, and escalate to the right "
            "agency when a "
            "post suggests a threat or harm to a child.",
        ),
    ),
    (
        "Acknowledgement",
        (
            "Please confirm that you have read this policy. Employees confirm with their district account; "
            "Associated Persons without a district account use the personal link they receive by email, "
            "or sign "
            "the paper form at the school office.",
        ),
    ),
)


def policy_html(district_name: str, version: str = "2026-27") -> str:
    """The policy as a small standalone HTML page."""
    esc = html.escape
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Social media policy for employees and Associated Persons ({esc(version)})</title></head><body>",
        f"<h1>{esc(district_name)}: social media policy for employees and Associated Persons</h1>",
        f'<p class="version">Version {esc(version)}. Sample text written for this demonstration; it '
        f"summarises "
        "the district's administrative regulation on district-sponsored social media.</p>",
    ]
    for heading, paragraphs in POLICY_SECTIONS:
        parts.append(f"<h2>{esc(heading)}</h2>")
        if len(paragraphs) == 1:
            parts.append(f"<p>{esc(paragraphs[0])}</p>")
        else:
            parts.append("<ol>" + "".join(f"<li>{esc(p)}</li>" for p in paragraphs) + "</ol>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


POLICY_SECTIONS_ES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "A quién se aplica",
        (
            "A todo empleado del distrito y a toda Persona Asociada: padres que dirigen o forman parte de comités "
            "escolares, voluntarios, entrenadores externos, consultores, contratistas, proveedores y personal de "
            "cuidado infantil o de programas después de clases que trabaja con nuestros estudiantes.",
        ),
    ),
    (
        "Lo que le pedimos",
        (
            "Mantenga sus cuentas personales de redes sociales separadas de las que usa para el trabajo escolar, "
            "y dirija a los estudiantes que quieran contactarle a las páginas oficiales de la escuela.",
            "Trate con respeto en línea a estudiantes, colegas y familias, dentro y fuera del horario de trabajo. "
            "Las amenazas, el acoso o las publicaciones humillantes pueden llevar a medidas disciplinarias y, "
            "cuando la ley lo exige, a un aviso a las autoridades.",
            "No publique nada que identifique a un estudiante (un nombre, una foto o un video) en ningún sitio "
            "escolar, personal o profesional sin el consentimiento por escrito de su padre, madre o tutor y la "
            "aprobación del director.",
            "Nunca comparta calificaciones, asistencia ni otros registros confidenciales fuera de los sistemas "
            "seguros aprobados por el distrito.",
            "No use los logotipos del distrito en páginas personales. Si menciona que trabaja con el distrito, "
            "diga que sus opiniones son suyas.",
        ),
    ),
    (
        "Lo que el distrito puede hacer",
        (
            "Las redes y cuentas del distrito no son privadas: el distrito puede revisar, guardar o quitar "
            "contenido y limitar el acceso cuando no se cumple esta política.",
            "Los directores y administradores comparten esta política con su personal y sus Personas Asociadas, "
            "investigan los problemas que se les informan, registran los incidentes graves y avisan a la agencia "
            "que corresponda cuando una publicación sugiere una amenaza o un daño a un menor.",
        ),
    ),
    (
        "Confirmación",
        (
            "Confirme que ha leído esta política. Los empleados confirman con su cuenta del distrito; las "
            "Personas Asociadas sin cuenta del distrito usan el enlace personal que reciben por correo "
            "electrónico o firman el formulario en papel en la oficina de la escuela.",
        ),
    ),
)


def policy_html_es(district_name: str, version: str = "2026-27") -> str:
    """The same policy in Spanish (the profile's ``policy_translations.es``)."""
    esc = html.escape
    parts = [
        "<!doctype html>",
        '<html lang="es"><head><meta charset="utf-8">',
        f"<title>Política de redes sociales para empleados y Personas Asociadas ({esc(version)})</title></head>"
        "<body>",
        f"<h1>{esc(district_name)}: política de redes sociales para empleados y Personas Asociadas</h1>",
        f'<p class="version">Versión {esc(version)}. Texto de muestra escrito para esta demostración; resume el '
        "reglamento administrativo del distrito sobre las redes sociales patrocinadas por el distrito.</p>",
    ]
    for heading, paragraphs in POLICY_SECTIONS_ES:
        parts.append(f"<h2>{esc(heading)}</h2>")
        if len(paragraphs) == 1:
            parts.append(f"<p>{esc(paragraphs[0])}</p>")
        else:
            parts.append("<ol>" + "".join(f"<li>{esc(p)}</li>" for p in paragraphs) + "</ol>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
